// Matrix products: matmul (batched, operands may be transposed views), linear (x @ W^T + b
// with the bias fused), and the kernel variants with the per-adapter choice between them.
import { gpu, GpuError } from "../../gpu/device.ts";
import { type Defs, type Kernel, kernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { record } from "../autograd.ts";
import { type DType, numel, Tensor } from "../tensor.ts";
import { contiguous, reshape, transpose } from "./shape.ts";
import { sum, sumTo } from "./reduce.ts";
import regSrc from "../../../shaders/matmul_reg.wgsl" with { type: "text" };
import tiledSrc from "../../../shaders/matmul_tiled.wgsl" with { type: "text" };

/** A kernel family and its tile shape: each invocation computes tm x tn outputs. */
export interface MatmulVariant {
  name: string;
  kind: "reg" | "tiled";
  tm: number;
  tn: number;
  wx: number;
  wy: number;
}

export const VARIANTS: MatmulVariant[] = [
  { name: "reg32x32", kind: "reg", tm: 32, tn: 32, wx: 8, wy: 4 },
  { name: "reg32x16", kind: "reg", tm: 32, tn: 16, wx: 8, wy: 8 },
  { name: "reg16x16", kind: "reg", tm: 16, tn: 16, wx: 8, wy: 8 },
  { name: "reg8x16", kind: "reg", tm: 8, tn: 16, wx: 8, wy: 8 },
  { name: "reg4x8", kind: "reg", tm: 4, tn: 8, wx: 8, wy: 8 },
  { name: "tiled4x4", kind: "tiled", tm: 4, tn: 4, wx: 16, wy: 16 },
  { name: "tiled8x8", kind: "tiled", tm: 8, tn: 8, wx: 16, wy: 16 },
];

let chosen: MatmulVariant | null = null;
/** Forces a variant (tests, benchmarks); null restores the default choice. */
export function setMatmulVariant(v: MatmulVariant | null): void {
  chosen = v;
}

// llvmpipe runs the wx invocations of a workgroup row in lockstep as SIMD lanes and turns
// every storage load into a lane-by-lane loop. Per value of K an invocation does tm*tn FMAs
// and (tm + tn) / 4 vec4 loads; a vec4 load costs about 4 * LOAD_COST FMAs (fitted to the
// measured 24, 27 and 32 GFLOP/s of the 16x16, 32x16 and 32x32 tiles at 1024^3).
const LOAD_COST = 9;

/** Modelled llvmpipe time of a register-blocked variant on batch x [m, n] outputs. */
function softwareCost(v: MatmulVariant, m: number, n: number, batch: number): number {
  const lanes = batch * Math.ceil(m / v.tm) * Math.ceil(n / (v.wx * v.tn)) * v.wx;
  const groups = batch * Math.ceil(m / (v.wy * v.tm)) * Math.ceil(n / (v.wx * v.tn));
  const threads = navigator.hardwareConcurrency || 1;
  const work = lanes * (v.tm * v.tn + LOAD_COST * (v.tm + v.tn));
  // Workgroups are spread over the rasteriser's threads: too few leave threads idle.
  return work / groups * Math.ceil(groups / threads);
}

/**
 * The variant for a batch x [m, n] output. Register blocking wins on CPU rasterisers (the
 * tile that minimises the cost model: big tiles for big outputs, small ones to keep every
 * thread busy on small outputs), workgroup-memory tiling on real GPUs.
 */
export function matmulVariant(m = 1024, n = 1024, batch = 1): MatmulVariant {
  if (chosen) return chosen;
  if (!gpu().isSoftware) return VARIANTS.find((v) => v.name === "tiled8x8")!;
  let best = VARIANTS[0], bestCost = Infinity;
  for (const v of VARIANTS) {
    if (v.kind !== "reg") continue;
    const c = softwareCost(v, m, n, batch);
    if (c < bestCost) [best, bestCost] = [v, c];
  }
  return best;
}

/** Operand view: offset, batch stride, and strides along its two matrix axes. */
interface Operand {
  t: Tensor;
  off: number;
  sb: number;
  s0: number;
  s1: number;
}

function operand(t: Tensor, batched: boolean): Operand {
  const r = t.rank;
  // A size-1 axis may carry any stride; give it the dense one so layouts are recognised.
  const s1 = t.shape[r - 1] === 1 ? 1 : t.strides[r - 1];
  const s0 = t.shape[r - 2] === 1 ? t.shape[r - 1] * s1 : t.strides[r - 2];
  return { t, off: t.offset, sb: batched ? t.strides[0] : 0, s0, s1 };
}

// ---- the register-blocked kernel, generated per layout --------------------------------
// Each K step loads TM values of A and TN of B (as vec4 along K or N where the layout
// allows) and issues TM*TN/4 vec4 FMAs. llvmpipe masks every write to a loop-carried
// variable, so each accumulator is written once per step through one FMA chain rather than
// once per FMA. Edge rows/columns are clamped on load and skipped on store; with N % 4 == 0
// outputs are stored as vec4 (one lane loop instead of four).
function regSource(
  v: MatmulVariant,
  aLayout: string,
  bLayout: string,
  vec: boolean,
  bias: boolean,
  vecStore: boolean,
): Record<string, string> {
  const { tm, tn } = v, jn = tn / 4, kv = vec ? 4 : 1;
  const range = (n: number) => [...Array(n).keys()];
  const pre: string[] = [], acc: string[] = [], L: string[] = [], S: string[] = [];
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < jn; j++) acc.push(`var c${i}_${j} = vec4<f32>(0.0);`);
  }
  const rowOf = (i: number) => `min(row0 + ${i}u, M - 1u)`;
  const colOf = (j: number) => `min(col0 + ${j}u, N - 1u)`;
  // Per layout: the loads of one step, and the A / B values of its kk-th K index.
  let a: (i: number, kk: number) => string;
  let b: (kk: number, j: number) => string;
  if (!vec) {
    pre.push("let sak = pu(6u);", "let sbk = pu(9u);");
    for (let i = 0; i < tm; i++) {
      pre.push(`let pa${i} = offA + ${rowOf(i)} * pu(5u);`);
      L.push(`let a${i} = f32(A[pa${i} + k * sak]);`);
    }
    for (let j = 0; j < tn; j++) {
      pre.push(`let pb${j} = offB + ${colOf(j)} * pu(10u);`);
      L.push(`let b${j} = f32(B[pb${j} + k * sbk]);`);
    }
    a = (i) => `a${i}`;
    b = (_, j) => `vec4<f32>(${range(4).map((t) => `b${4 * j + t}`).join(", ")})`;
  } else {
    // Indices below count vec4s; k counts steps of 4 along K.
    if (aLayout === "mk") {
      for (let i = 0; i < tm; i++) {
        pre.push(`let pa${i} = (offA + ${rowOf(i)} * pu(5u)) / 4u;`);
        L.push(`let a${i} = vec4<f32>(A[pa${i} + k]);`);
      }
      a = (i, kk) => `a${i}[${kk}]`;
    } else {
      pre.push("let lda = pu(6u) / 4u;", "let pa = (offA + row0) / 4u;");
      L.push("let ka = pa + k * 4u * lda;");
      for (let kk = 0; kk < 4; kk++) {
        for (let q = 0; q < tm / 4; q++) {
          L.push(`let a${kk}_${q} = vec4<f32>(A[ka + ${kk}u * lda + ${q}u]);`);
        }
      }
      a = (i, kk) => `a${kk}_${i >> 2}[${i & 3}]`;
    }
    if (bLayout === "kn") {
      pre.push("let ldb = pu(9u) / 4u;", "let pb = (offB + col0) / 4u;");
      L.push("let kb = pb + k * 4u * ldb;");
      for (let kk = 0; kk < 4; kk++) {
        for (let j = 0; j < jn; j++) {
          L.push(`let b${kk}_${j} = vec4<f32>(B[kb + ${kk}u * ldb + ${j}u]);`);
        }
      }
      b = (kk, j) => `b${kk}_${j}`;
    } else {
      for (let j = 0; j < tn; j++) {
        pre.push(`let pb${j} = (offB + ${colOf(j)} * pu(10u)) / 4u;`);
        L.push(`let b${j} = vec4<f32>(B[pb${j} + k]);`);
      }
      b = (kk, j) => `vec4<f32>(${range(4).map((t) => `b${4 * j + t}[${kk}]`).join(", ")})`;
    }
  }
  for (let kk = 0; kk < kv; kk++) {
    for (let j = 0; j < jn; j++) L.push(`let bv${kk}_${j} = ${b(kk, j)};`);
  }
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < jn; j++) {
      let e = `c${i}_${j}`;
      for (let kk = 0; kk < kv; kk++) e = `fma(vec4<f32>(${a(i, kk)}), bv${kk}_${j}, ${e})`;
      L.push(`c${i}_${j} = ${e};`);
    }
  }
  for (let j = 0; j < jn; j++) {
    const c0 = `col0 + ${4 * j}u`;
    if (bias) {
      const idx = (t: number) => `f32(Bias[pu(11u) + ${colOf(4 * j + t)}])`;
      S.push(`let bias${j} = vec4<f32>(${range(4).map(idx).join(", ")});`);
    }
    S.push(`if (${c0} < N) {`);
    for (let i = 0; i < tm; i++) {
      const v = `alpha * c${i}_${j}${bias ? ` + bias${j}` : ""}`;
      const at = `offC + (row0 + ${i}u) * N + ${c0}`;
      if (vecStore) {
        const ix = `(${at}) / 4u`;
        S.push(`  if (row0 + ${i}u < M) { C[${ix}] = vec4<{{TC}}>(${v}{{OLD:${ix}}}); }`);
      } else {
        S.push(`  if (row0 + ${i}u < M) {`, `    let v = ${v};`);
        for (let t = 0; t < 4; t++) {
          const ix = `${at} + ${t}u`;
          S.push(`    if (${c0} + ${t}u < N) { C[${ix}] = {{TC}}(v[${t}]{{OLD:${ix}}}); }`);
        }
        S.push("  }");
      }
    }
    S.push("}");
  }
  return {
    ACC: acc.join("\n  "),
    PRE: pre.join("\n  "),
    KSTEPS: vec ? "K / 4u" : "K",
    STEP: L.join("\n    "),
    STORE: S.join("\n  "),
  };
}

// Generated sources are long (a 32x32 tile is about 1000 FMA lines): build each one once.
const regKernels = new Map<string, Kernel>();

/** The register-blocked kernel for these operands; `accumulate` adds to C's contents. */
function regKernel(
  v: MatmulVariant,
  a: Operand,
  b: Operand,
  out: Tensor,
  k: number,
  bias: Tensor | null,
  accumulate: boolean,
): { kernel: Kernel; kStep: number } {
  const n = out.shape[out.rank - 1];
  const aLayout = a.s1 === 1 ? "mk" : a.s0 === 1 ? "km" : "";
  const bLayout = b.s1 === 1 ? "kn" : b.s0 === 1 ? "nk" : "";
  const lds = [
    a.off,
    a.sb,
    b.off,
    b.sb,
    aLayout === "mk" ? a.s0 : a.s1,
    bLayout === "kn" ? b.s0 : b.s1,
  ];
  const vec = aLayout !== "" && bLayout !== "" && k % 4 === 0 && lds.every((x) => x % 4 === 0);
  const vecStore = n % 4 === 0;
  // The name carries what the defs below do not (kernel() caches by name and defs).
  const name = `matmul_${v.name}_${vec ? aLayout + bLayout : "strided"}` +
    `${vecStore ? "_v4" : ""}${accumulate ? "_acc" : ""}`;
  const key = `${name} ${v.tm}x${v.tn}@${v.wx}x${v.wy} ${a.t.dtype}${b.t.dtype}${out.dtype}` +
    ` ${bias?.dtype}`;
  let kernel_ = regKernels.get(key);
  if (!kernel_) {
    const { STORE, ...gen } = regSource(v, aLayout, bLayout, vec, bias !== null, vecStore);
    const T = (t: Tensor) => (vec ? `vec4<${t.dtype}>` : t.dtype);
    const old = (at: string) =>
      !accumulate ? "" : vecStore ? ` + vec4<f32>(C[${at}])` : ` + f32(C[${at}])`;
    // STORE goes in before specialisation: it holds {{TC}} and {{OLD:index}} placeholders.
    const store = STORE.replace(/\{\{OLD:([^}]*)\}\}/g, (_, at: string) => old(at));
    kernel_ = kernel(name, regSrc.replace("{{STORE}}", store), {
      ...commonDefs(out, bias),
      ...gen,
      VA: T(a.t),
      VB: T(b.t),
      VC: vecStore ? `vec4<${out.dtype}>` : out.dtype,
      TM: v.tm,
      TN: v.tn,
      WX: v.wx,
      WY: v.wy,
    });
    regKernels.set(key, kernel_);
  }
  return { kernel: kernel_, kStep: vec ? 4 : 1 };
}

function commonDefs(out: Tensor, bias: Tensor | null): Defs {
  return {
    TC: out.dtype,
    DECL_BIAS: bias ? `@group(0) @binding(3) var<storage, read> Bias: array<${bias.dtype}>;` : "",
    OUT_BINDING: bias ? 4 : 3,
  };
}

// llvmpipe stops a shader invocation's loops after 65,535 iterations in total (all loops
// together; loops it unrolls do not count), so on software adapters a long K runs as
// several dispatches, the later ones adding to C. The reg kernel's only loop is over K.
const LOOP_CAP = 65535;

/** K per dispatch of the tiled kernel under the cap, counting every loop iteration. */
function tiledKChunk(v: MatmulVariant): number {
  const perK16 = 1 + v.tm + v.tn + 16 * (1 + v.tm + v.tn + v.tm * (1 + v.tn));
  const once = v.tm * v.tn + v.tm * (1 + v.tn);
  return Math.floor((LOOP_CAP - once) / perK16) * 16;
}

/** Records C[batch] = alpha * A @ B (+ bias[n]) into the dense tensor `out`. */
function matmulInto(
  out: Tensor,
  a: Operand,
  b: Operand,
  batch: number,
  m: number,
  n: number,
  k: number,
  bias: Tensor | null,
  alpha: number,
): void {
  const v = matmulVariant(m, n, batch);
  const capped = gpu().isSoftware;
  for (let k0 = 0; k0 === 0 || k0 < k;) {
    const first = k0 === 0, b_ = first ? bias : null;
    let kernel_: Kernel, kChunk: number;
    if (v.kind === "reg") {
      const r = regKernel(v, a, b, out, k, b_, !first);
      kernel_ = r.kernel;
      kChunk = capped ? LOOP_CAP * r.kStep : k;
    } else {
      kernel_ = kernel(`matmul_${v.name}`, tiledSrc, {
        ...commonDefs(out, b_),
        ADD_BIAS: b_ ? "v += f32(Bias[pu(11u) + c]);" : "",
        ADD_OLD: first ? "" : "v += f32(C[offC + r * N + c]);",
        TA: a.t.dtype,
        TB: b.t.dtype,
        TM: v.tm,
        TN: v.tn,
        BM: 16 * v.tm,
        BN: 16 * v.tn,
      });
      kChunk = capped ? tiledKChunk(v) : k;
    }
    const kc = Math.min(kChunk, k - k0);
    const bind = [
      { buffer: a.t.buffer, what: "matmul A" },
      { buffer: b.t.buffer, what: "matmul B" },
    ];
    if (b_) bind.push({ buffer: b_.buffer, what: "bias" });
    bind.push({ buffer: out.buffer, what: "matmul output" });
    const params = [
      m,
      n,
      kc,
      a.off + k0 * a.s1,
      a.sb,
      a.s0,
      a.s1,
      b.off + k0 * b.s0,
      b.sb,
      b.s0,
      b.s1,
      b_?.offset ?? 0,
      f32bits(alpha),
      m * n,
    ];
    const grid: [number, number, number] = [
      Math.ceil(n / (v.wx * v.tn)),
      Math.ceil(m / (v.wy * v.tm)),
      batch,
    ];
    dispatch(kernel_, bind, params, grid);
    k0 += kc;
  }
}

/** Output dtype of a product: f16 only when both operands are f16. */
function productType(a: Tensor, b: Tensor): DType {
  return a.dtype === "f16" && b.dtype === "f16" ? "f16" : "f32";
}

/** Dense 3-D-able view for a batched operand (the kernel takes one batch stride). */
function batched3(t: Tensor): Tensor {
  const c = t.rank === 3 ? t.view(t.shape, t.strides, t.offset) : null;
  if (c) return c;
  const d = contiguous(t);
  const r = reshape(d, [numel(t.shape.slice(0, -2)), t.shape[t.rank - 2], t.shape[t.rank - 1]]);
  d.dispose();
  return r;
}

/** Raw product, no autograd. a: [..., M, K], b: [..., K, N] (either may be 2-D). */
export function matmulRaw(a: Tensor, b: Tensor, bias: Tensor | null = null, alpha = 1): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new GpuError("matmul needs operands of rank >= 2");
  const m = a.shape[a.rank - 2], k = a.shape[a.rank - 1];
  const k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1];
  if (k !== k2) throw new GpuError(`matmul shapes [${a.shape}] @ [${b.shape}]: inner sizes differ`);
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  if (aBatch.length && bBatch.length && aBatch.join() !== bBatch.join()) {
    throw new GpuError(`matmul batch shapes [${aBatch}] and [${bBatch}] differ`);
  }
  const batchShape = aBatch.length ? aBatch : bBatch;
  const batch = numel(batchShape);
  const out = Tensor.empty([...batchShape, m, n], productType(a, b), "matmul");
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new GpuError(`bias [${bias.shape}] does not match ${n} output columns`);
  }
  const bOp = bBatch.length ? batched3(b) : b;
  if (aBatch.length && !bBatch.length && a.isContiguous()) {
    // Fold the batch into the rows: one big [batch*M, K] @ [K, N].
    matmulInto(out, operand(a, false), operand(bOp, false), 1, batch * m, n, k, bias, alpha);
  } else {
    const aOp = aBatch.length ? batched3(a) : a;
    matmulInto(
      out,
      operand(aOp, aBatch.length > 0),
      operand(bOp, bBatch.length > 0),
      batch,
      m,
      n,
      k,
      bias,
      alpha,
    );
    if (aOp !== a) aOp.dispose();
  }
  if (bOp !== b) bOp.dispose();
  return out;
}

/** a @ b with autograd; operands may be transposed views (no copy is made for them). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return record(matmulRaw(a, b), [a, b], (g) => [
    a.requiresGrad ? gradLhs(g, b, a.shape) : null,
    b.requiresGrad ? gradRhs(a, g, b.shape) : null,
  ]);
}

/** dA = g @ B^T, summed back to A's shape when A was broadcast. */
function gradLhs(g: Tensor, b: Tensor, shape: readonly number[]): Tensor {
  const bt = transpose(b);
  const d = matmulRaw(g, bt);
  bt.dispose();
  if (d.rank === shape.length) return d;
  const r = sumTo(d, shape);
  d.dispose();
  return r;
}

/** dB = A^T @ g; when B was shared across a batch, the batch folds into the product. */
function gradRhs(a: Tensor, g: Tensor, shape: readonly number[]): Tensor {
  if (shape.length === 2 && a.rank > 2) {
    const a2 = reshape(a, [-1, a.shape[a.rank - 1]]);
    const g2 = reshape(g, [-1, g.shape[g.rank - 1]]);
    const a2t = transpose(a2);
    const d = matmulRaw(a2t, g2);
    for (const t of [a2, g2, a2t]) t.dispose();
    return d;
  }
  const at = transpose(a);
  const d = matmulRaw(at, g);
  at.dispose();
  if (d.rank === shape.length) return d;
  const r = sumTo(d, shape);
  d.dispose();
  return r;
}

/** y = x @ W^T + bias, with W in PyTorch's [out, in] layout and the bias add fused. */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  const wt = transpose(w);
  const y = matmulRaw(x, wt, bias);
  wt.dispose();
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, inputs, (g) => {
    const dx = x.requiresGrad ? matmulRaw(g, w) : null;
    let dw: Tensor | null = null;
    if (w.requiresGrad) {
      const g2 = reshape(g, [-1, g.shape[g.rank - 1]]);
      const x2 = reshape(x, [-1, x.shape[x.rank - 1]]);
      const g2t = transpose(g2);
      dw = matmulRaw(g2t, x2);
      for (const t of [g2, x2, g2t]) t.dispose();
    }
    let db: Tensor | null = null;
    if (bias?.requiresGrad) {
      const g2 = reshape(g, [-1, g.shape[g.rank - 1]]);
      db = sum(g2, 0);
      g2.dispose();
    }
    return [dx, dw, db];
  });
}

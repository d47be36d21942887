// Matrix products: matmul (batched, operands may be transposed views), linear (x @ W^T + b
// with the bias fused), and the kernel variants with the per-adapter choice between them.
import { gpu, GpuError } from "../../gpu/device.ts";
import { type Defs, kernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { record } from "../autograd.ts";
import { type DType, numel, Tensor } from "../tensor.ts";
import { contiguous, reshape, transpose } from "./shape.ts";
import { sum, sumTo } from "./reduce.ts";
import regSrc from "../../../shaders/matmul_reg.wgsl" with { type: "text" };
import tiledSrc from "../../../shaders/matmul_tiled.wgsl" with { type: "text" };

/** A kernel family and its tile shape. */
export interface MatmulVariant {
  name: string;
  kind: "reg" | "tiled";
  tm: number;
  tn: number;
  wx: number;
  wy: number;
}

export const VARIANTS: MatmulVariant[] = [
  { name: "reg8x16", kind: "reg", tm: 8, tn: 16, wx: 8, wy: 8 },
  { name: "reg4x16", kind: "reg", tm: 4, tn: 16, wx: 8, wy: 8 },
  { name: "reg4x8", kind: "reg", tm: 4, tn: 8, wx: 8, wy: 8 },
  { name: "tiled4x4", kind: "tiled", tm: 4, tn: 4, wx: 16, wy: 16 },
  { name: "tiled8x8", kind: "tiled", tm: 8, tn: 8, wx: 16, wy: 16 },
];

let chosen: MatmulVariant | null = null;
/** Forces a variant (tests, benchmarks, the tuner); null restores the default choice. */
export function setMatmulVariant(v: MatmulVariant | null): void {
  chosen = v;
}
/** Register blocking wins on CPU rasterisers, workgroup-memory tiling on real GPUs. */
export function matmulVariant(): MatmulVariant {
  return chosen ?? VARIANTS.find((v) => v.name === (gpu().isSoftware ? "reg8x16" : "tiled8x8"))!;
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
function regSource(
  v: MatmulVariant,
  aLayout: string,
  bLayout: string,
  vec: boolean,
): Record<string, string> {
  const { tm, tn } = v, jn = tn / 4, ks = vec ? 4 : 1;
  const L: string[] = [], F: string[] = [], S: string[] = [], acc: string[] = [];
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < jn; j++) acc.push(`var c${i}_${j} = vec4<f32>(0.0);`);
  }
  const rowOf = (i: number) => `min(row0 + ${i}u, M - 1u)`;
  const colOf = (j: number) => `min(col0 + ${j}u, N - 1u)`;
  let a: (i: number, kk: number) => string;
  let b: (kk: number, j: number) => string;
  if (!vec) {
    for (let i = 0; i < tm; i++) {
      L.push(`let a${i} = f32(A[offA + ${rowOf(i)} * pu(5u) + k0 * pu(6u)]);`);
    }
    for (let j = 0; j < tn; j++) {
      L.push(`let b${j} = f32(B[offB + k0 * pu(9u) + ${colOf(j)} * pu(10u)]);`);
    }
    a = (i) => `a${i}`;
    b = (_, j) => `vec4<f32>(b${4 * j}, b${4 * j + 1}, b${4 * j + 2}, b${4 * j + 3})`;
  } else {
    if (aLayout === "mk") {
      for (let i = 0; i < tm; i++) {
        L.push(`let a${i} = vec4<f32>(A[(offA + ${rowOf(i)} * pu(5u) + k0) / 4u]);`);
      }
      a = (i, kk) => `a${i}[${kk}]`;
    } else {
      for (let kk = 0; kk < 4; kk++) {
        for (let q = 0; q < tm / 4; q++) {
          L.push(
            `let a${kk}_${q} = vec4<f32>(A[(offA + (k0 + ${kk}u) * pu(6u) + row0 + ${
              4 * q
            }u) / 4u]);`,
          );
        }
      }
      a = (i, kk) => `a${kk}_${i >> 2}[${i & 3}]`;
    }
    if (bLayout === "kn") {
      for (let kk = 0; kk < 4; kk++) {
        for (let j = 0; j < jn; j++) {
          L.push(
            `let b${kk}_${j} = vec4<f32>(B[(offB + (k0 + ${kk}u) * pu(9u) + col0 + ${
              4 * j
            }u) / 4u]);`,
          );
        }
      }
      b = (kk, j) => `b${kk}_${j}`;
    } else {
      for (let j = 0; j < tn; j++) {
        L.push(`let b${j} = vec4<f32>(B[(offB + ${colOf(j)} * pu(10u) + k0) / 4u]);`);
      }
      b = (kk, j) =>
        `vec4<f32>(b${4 * j}[${kk}], b${4 * j + 1}[${kk}], b${4 * j + 2}[${kk}], b${
          4 * j + 3
        }[${kk}])`;
    }
  }
  for (let kk = 0; kk < ks; kk++) {
    for (let j = 0; j < jn; j++) {
      const bv = b(kk, j);
      F.push(`{ let bv = ${bv};`);
      for (let i = 0; i < tm; i++) {
        F.push(`c${i}_${j} = fma(vec4<f32>(${a(i, kk)}), bv, c${i}_${j});`);
      }
      F.push("}");
    }
  }
  for (let i = 0; i < tm; i++) {
    S.push(`if (row0 + ${i}u < M) {`);
    for (let j = 0; j < jn; j++) {
      for (let t = 0; t < 4; t++) {
        S.push(
          `  if (col0 + ${4 * j + t}u < N) { var v = alpha * c${i}_${j}[${t}]; ` +
            `let c = col0 + ${
              4 * j + t
            }u; {{ADD_BIAS}} C[offC + (row0 + ${i}u) * N + c] = {{TC}}(v); }`,
        );
      }
    }
    S.push("}");
  }
  return {
    ACC: acc.join("\n  "),
    LOADS: L.join("\n    "),
    FMAS: F.join("\n    "),
    STORE: S.join("\n  "),
    KS: String(ks),
  };
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
  const v = matmulVariant();
  const defs: Defs = {
    TC: out.dtype,
    DECL_BIAS: bias ? `@group(0) @binding(3) var<storage, read> Bias: array<${bias.dtype}>;` : "",
    OUT_BINDING: bias ? 4 : 3,
  };
  const addBias = bias ? "v += f32(Bias[pu(11u) + c]);" : "";
  let k_;
  if (v.kind === "reg") {
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
    const gen = regSource(v, aLayout, bLayout, vec);
    const T = (t: Tensor) => (vec ? `vec4<${t.dtype}>` : t.dtype);
    const body = regSrc.replace("{{STORE}}", gen.STORE.replaceAll("{{ADD_BIAS}}", addBias));
    k_ = kernel(`matmul_${v.name}_${vec ? aLayout + bLayout : "strided"}`, body, {
      ...defs,
      ...gen,
      VA: T(a.t),
      VB: T(b.t),
      TM: v.tm,
      TN: v.tn,
      WX: v.wx,
      WY: v.wy,
    });
  } else {
    k_ = kernel(`matmul_${v.name}`, tiledSrc, {
      ...defs,
      ADD_BIAS: addBias,
      TA: a.t.dtype,
      TB: b.t.dtype,
      TM: v.tm,
      TN: v.tn,
      BM: 16 * v.tm,
      BN: 16 * v.tn,
      BK: 16,
    });
  }
  const bind = [{ buffer: a.t.buffer, what: "matmul A" }, { buffer: b.t.buffer, what: "matmul B" }];
  if (bias) bind.push({ buffer: bias.buffer, what: "bias" });
  bind.push({ buffer: out.buffer, what: "matmul output" });
  const params = [
    m,
    n,
    k,
    a.off,
    a.sb,
    a.s0,
    a.s1,
    b.off,
    b.sb,
    b.s0,
    b.s1,
    bias?.offset ?? 0,
    f32bits(alpha),
    m * n,
  ];
  const grid: [number, number, number] = [
    Math.ceil(n / (v.wx * v.tn)),
    Math.ceil(m / (v.wy * v.tm)),
    batch,
  ];
  dispatch(k_, bind, params, grid);
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

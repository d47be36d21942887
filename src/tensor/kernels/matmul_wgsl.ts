// WGSL for the matmul kernels: the register-blocked kernel generated per operand layout, and
// the workgroup-tiled kernel specialised from its template.
import {
  type Defs,
  elementKernel,
  generatedKernel,
  type Kernel,
  kernel,
} from "../../gpu/kernel.ts";
import type { Tensor } from "../tensor.ts";
import type { MatmulVariant } from "./matmul_variants.ts";
import regSrc from "../../../shaders/matmul_reg.wgsl" with { type: "text" };
import tiledSrc from "../../../shaders/matmul_tiled.wgsl" with { type: "text" };
import geluSrc from "../../../shaders/matmul_gelu.wgsl" with { type: "text" };
import splitSrc from "../../../shaders/matmul_splitk.wgsl" with { type: "text" };

/** The GELU epilogue: off (null), or C = gelu(v), keeping v in `pre` when that is given. */
export type Gelu = { pre: Tensor | null } | null;

/** Operand view: offset, batch stride, and strides along its two matrix axes. */
export interface Operand {
  t: Tensor;
  off: number;
  sb: number;
  s0: number;
  s1: number;
}

export function operand(t: Tensor, batched: boolean): Operand {
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
// outputs are stored as vec4 (one lane loop instead of four). With `gelu` the epilogue
// stores gelu(v) in C and, with `keepPre`, v itself in Pre (what the backward pass needs).
function regSource(
  v: MatmulVariant,
  aLayout: string,
  bLayout: string,
  vec: boolean,
  bias: boolean,
  vecStore: boolean,
  gelu: boolean,
  keepPre: boolean,
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
      if (gelu) {
        S.push(`  if (row0 + ${i}u < M) {`, `    let v = ${v};`, "    let g = gelu4(v);");
        if (vecStore) {
          const ix = `(${at}) / 4u`;
          if (keepPre) S.push(`    Pre[${ix}] = vec4<{{TC}}>(v);`);
          S.push(`    C[${ix}] = vec4<{{TC}}>(g);`);
        }
        for (let t = 0; t < 4 && !vecStore; t++) {
          const ix = `${at} + ${t}u`;
          const keep = keepPre ? `Pre[${ix}] = {{TC}}(v[${t}]); ` : "";
          S.push(`    if (${c0} + ${t}u < N) { ${keep}C[${ix}] = {{TC}}(g[${t}]); }`);
        }
        S.push("  }");
      } else if (vecStore) {
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

/** The operands' layouts, and whether the register-blocked kernel loads them as vec4. */
function layouts(a: Operand, b: Operand, k: number) {
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
  return { aLayout, bLayout, vec };
}

/** Values of K one step of the register-blocked kernel's loop covers. */
export function regKStep(a: Operand, b: Operand, k: number): number {
  return layouts(a, b, k).vec ? 4 : 1;
}

/**
 * The register-blocked kernel for these operands; `accumulate` adds to C's contents, `gelu`
 * (never with accumulate) turns on the GELU epilogue.
 */
export function regKernel(
  v: MatmulVariant,
  a: Operand,
  b: Operand,
  out: Tensor,
  k: number,
  bias: Tensor | null,
  accumulate: boolean,
  gelu: Gelu = null,
): { kernel: Kernel; kStep: number } {
  const n = out.shape[out.rank - 1];
  const { aLayout, bLayout, vec } = layouts(a, b, k);
  const vecStore = n % 4 === 0;
  const name = `matmul_${v.name}_${vec ? aLayout + bLayout : "strided"}` +
    `${vecStore ? "_v4" : ""}${accumulate ? "_acc" : ""}${geluTag(gelu)}`;
  // Generated sources are long (a 32x32 tile is about 1000 FMA lines): the key names all
  // they depend on, so each is generated once.
  const key = `${name} ${v.tm}x${v.tn}@${v.wx}x${v.wy} ${a.t.dtype}${b.t.dtype}${out.dtype}` +
    ` ${bias?.dtype}`;
  const kernel_ = generatedKernel(name, key, () => {
    const { STORE, ...gen } = regSource(
      v,
      aLayout,
      bLayout,
      vec,
      bias !== null,
      vecStore,
      gelu !== null,
      !!gelu?.pre,
    );
    const T = (t: Tensor) => (vec ? `vec4<${t.dtype}>` : t.dtype);
    const old = (at: string) =>
      !accumulate ? "" : vecStore ? ` + vec4<f32>(C[${at}])` : ` + f32(C[${at}])`;
    // STORE goes in before specialisation: it holds {{TC}} and {{OLD:index}} placeholders.
    const store = STORE.replace(/\{\{OLD:([^}]*)\}\}/g, (_, at: string) => old(at));
    return {
      source: regSrc.replace("{{STORE}}", store) + (gelu ? geluSrc : ""),
      defs: {
        ...commonDefs(out, bias),
        DECL_PRE: preDecl(out, bias, gelu, vecStore),
        ...gen,
        VA: T(a.t),
        VB: T(b.t),
        VC: vecStore ? `vec4<${out.dtype}>` : out.dtype,
        TM: v.tm,
        TN: v.tn,
        WX: v.wx,
        WY: v.wy,
      },
    };
  });
  return { kernel: kernel_, kStep: vec ? 4 : 1 };
}

/** The workgroup-tiled kernel; `accumulate` adds to C's contents, `gelu` as in regKernel. */
export function tiledKernel(
  v: MatmulVariant,
  a: Operand,
  b: Operand,
  out: Tensor,
  bias: Tensor | null,
  accumulate: boolean,
  gelu: Gelu = null,
): Kernel {
  const keep = gelu?.pre ? `Pre[offC + r * N + c] = ${out.dtype}(v);\n        ` : "";
  return kernel(`matmul_${v.name}${geluTag(gelu)}`, tiledSrc + (gelu ? geluSrc : ""), {
    ...commonDefs(out, bias),
    DECL_PRE: preDecl(out, bias, gelu, false),
    GELU: gelu ? `${keep}v = gelu4(vec4<f32>(v)).x;` : "",
    ADD_BIAS: bias ? "v += f32(Bias[pu(11u) + c]);" : "",
    ADD_OLD: accumulate ? "v += f32(C[offC + r * N + c]);" : "",
    TA: a.t.dtype,
    TB: b.t.dtype,
    TM: v.tm,
    TN: v.tn,
    BM: 16 * v.tm,
    BN: 16 * v.tn,
  });
}

/** The split-K sum pass: Part [S, M*N] f32 summed into C with the bias / GELU epilogue. */
export function splitSumKernel(out: Tensor, bias: Tensor | null, gelu: Gelu): Kernel {
  const biasV = bias
    ? " + vec4<f32>(" + [0, 1, 2, 3].map((t) => `f32(Bias[pu(3u) + c0 + ${t}u])`).join(", ") + ")"
    : "";
  const w = `v${biasV}`;
  const epilogue = [
    ...(bias ? ["let c0 = (4u * q) % pu(2u);"] : []),
    ...(gelu?.pre ? [`let w = ${w};`, "Pre[q] = vec4<{{TC}}>(w);"] : [`let w = ${w};`]),
    gelu ? "C[q] = vec4<{{TC}}>(gelu4(w));" : "C[q] = vec4<{{TC}}>(w);",
  ].join("\n  ");
  const src = splitSrc.replace("{{EPILOGUE}}", epilogue) + (gelu ? geluSrc : "");
  return elementKernel(`matmul_splitk${geluTag(gelu)}`, src, {
    ...commonDefs(out, bias),
    DECL_BIAS: bias ? `@group(0) @binding(2) var<storage, read> Bias: array<${bias.dtype}>;` : "",
    OUT_BINDING: bias ? 3 : 2,
    DECL_PRE: preDecl(out, bias, gelu, true, 2),
  });
}

const geluTag = (gelu: Gelu) => (gelu ? (gelu.pre ? "_gelu_pre" : "_gelu") : "");

/** The pre-activation output's binding, after C's. */
function preDecl(out: Tensor, bias: Tensor | null, gelu: Gelu, vec4: boolean, base = 3) {
  if (!gelu?.pre) return "";
  const at = base + (bias ? 2 : 1), t = vec4 ? `vec4<${out.dtype}>` : out.dtype;
  return `@group(0) @binding(${at}) var<storage, read_write> Pre: array<${t}>;`;
}

function commonDefs(out: Tensor, bias: Tensor | null): Defs {
  return {
    TC: out.dtype,
    DECL_BIAS: bias ? `@group(0) @binding(3) var<storage, read> Bias: array<${bias.dtype}>;` : "",
    OUT_BINDING: bias ? 4 : 3,
  };
}

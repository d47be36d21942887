// Fused attention launches (no autograd; ops/attention.ts records them). Q, K, V are read in
// place as [b, s, h] views with the head as an offset into h; the kernels are generated per
// dtype, head dimension and row block, with every loop over the head dimension unrolled
// (shaders/attention_*.wgsl hold the skeletons and the parameter layout).
import { gpu } from "../../gpu/device.ts";
import { generatedKernel } from "../../gpu/kernel.ts";
import { type Binding, dispatch, f32bits } from "../../gpu/queue.ts";
import { Tensor } from "../tensor.ts";
import { copyInto } from "./shape.ts";
import commonSrc from "../../../shaders/attention_common.wgsl" with { type: "text" };
import fwdSrc from "../../../shaders/attention_fwd.wgsl" with { type: "text" };
import bwdQSrc from "../../../shaders/attention_bwd_q.wgsl" with { type: "text" };
import bwdKVSrc from "../../../shaders/attention_bwd_kv.wgsl" with { type: "text" };

/** Dropout of the probabilities: the dropout op's seed, call counter and rate. */
export interface AttentionDrop {
  p: number;
  seed: number;
  counter: number;
}

export interface AttentionArgs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  heads: number;
  scale: number;
  mask: Tensor | null;
  drop: AttentionDrop | null;
}

const WG = 32;
/** The longest sequence the fused kernels take (two passes of s iterations stay far below
 * llvmpipe's loop cap; longer ones go to the composite). */
const MAX_SEQ = 4096;
const MAX_HEAD_DIM = 128;

type Kind = "fwd" | "q" | "kv";

/**
 * Rows per invocation: each K/V (or dO/Q) load is reused by every row of the block, and
 * loads are what llvmpipe pays for, so blocks are as large as registers and compile time
 * allow (unrolled cells R x C per accumulator set; the query-side backward keeps two sets
 * live, the key-side one two accumulators per cell). A fixed menu keeps the kernels per
 * head size to a few whatever the batches' padded lengths.
 */
function rowBlock(kind: Kind, c: number, s: number): number {
  const max = Math.min(32, Math.floor((kind === "fwd" ? 512 : 256) / c));
  return [8, 16, 32].find((r) => r >= s && r <= max) ?? max;
}

/** Offset and the batch and row strides of a [b, s, h] view, in vec4s, or null. */
function vec4Layout(t: Tensor): [number, number, number] | null {
  const sb = t.shape[0] === 1 ? 0 : t.strides[0], ss = t.shape[1] === 1 ? 0 : t.strides[1];
  const ok = t.strides[2] === 1 && [t.offset, sb, ss].every((x) => x % 4 === 0);
  return ok ? [t.offset / 4, sb / 4, ss / 4] : null;
}

/** Whether the fused kernels take these operands (else the caller runs the composite). */
export function fusedAttentionSupported(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  mask: Tensor | null,
): boolean {
  const [b, s, h] = q.shape, d = h / heads;
  if (q.rank !== 3 || ![k, v].every((t) => t.shape.join() === q.shape.join())) return false;
  if (![k, v].every((t) => t.dtype === q.dtype) || q.dtype === "i32") return false;
  if (d % 4 !== 0 || d > MAX_HEAD_DIM || s > MAX_SEQ || s === 0) return false;
  if (![q, k, v].every((t) => vec4Layout(t) !== null)) return false;
  if (mask) {
    const [mb, m1, m2, ms] = mask.shape;
    const shapeOk = mask.rank === 4 && (mb === 1 || mb === b) && m1 === 1 && m2 === 1 && ms === s;
    if (!shapeOk || (mask.dtype !== "f32" && mask.dtype !== q.dtype)) return false;
  }
  const bytes = b * heads * s * s * 4;
  return bytes <= gpu().limits.maxStorageBufferBindingSize;
}

const range = (n: number) => [...Array(n).keys()];
const perRow = (r: number, f: (i: number) => string) => range(r).map(f);
const perCell = (r: number, c: number, f: (i: number, j: number) => string) =>
  range(r).flatMap((i) => range(c).map((j) => f(i, j)));
/** The dot product of two unrolled rows of vec4s. */
const dotRow = (c: number, a: (j: number) => string, b: (j: number) => string) =>
  range(c).map((j) => `dot(${a(j)}, ${b(j)})`).join(" + ");

function rows(r: number, probs: boolean): string[] {
  return perRow(r, (i) =>
    `let row${i} = min(r0 + ${i}u, s - 1u); let ok${i} = r0 + ${i}u < s;` +
    (probs ? ` let pr${i} = (bh * s + row${i}) * s;` : ""));
}

function fwdParts(t: string, r: number, c: number, save: boolean): Record<string, string[]> {
  const loadK = [
    "let kj = kb + j * pu(16u);",
    ...range(c).map((j) => `let k${j} = vec4<f32>(K[kj + ${j}u]);`),
  ];
  // The score as the composite's scaled product rounds it; recomputed in pass 2, which
  // costs a row of K loads but fewer than storing and reloading every row's score.
  const score = (i: number) =>
    `let x${i} = f32(${t}((${dotRow(c, (j) => `q${i}_${j}`, (j) => `k${j}`)}) * scale)) + mj;`;
  return {
    DECL_PR: save ? ["@group(0) @binding(6) var<storage, read_write> Pr: array<" + t + ">;"] : [],
    ROWS: rows(r, true),
    LOADQ: perCell(
      r,
      c,
      (i, j) => `let q${i}_${j} = vec4<f32>(Q[qb + row${i} * pu(13u) + ${j}u]);`,
    ),
    INIT1: perRow(r, (i) => `var m${i} = -3.4028235e38; var l${i} = 0.0;`),
    STEP1: [
      ...loadK,
      ...perRow(r, (i) =>
        `${score(i)} let mn${i} = max(m${i}, x${i});` +
        ` l${i} = l${i} * exp(m${i} - mn${i}) + exp(x${i} - mn${i}); m${i} = mn${i};`),
    ],
    INIT2: [
      ...perRow(r, (i) => `let il${i} = 1.0 / l${i};`),
      ...perCell(r, c, (i, j) => `var a${i}_${j} = vec4<f32>(0.0);`),
    ],
    STEP2: [
      ...loadK,
      "let vj = vb + j * pu(19u);",
      ...range(c).map((j) => `let v${j} = vec4<f32>(V[vj + ${j}u]);`),
      ...perRow(r, (i) =>
        `${score(i)} let e${i} = ${t}(exp(x${i} - m${i}) * il${i});` +
        (save ? ` if (ok${i}) { Pr[pr${i} + j] = e${i}; }` : "") +
        ` let d${i} = dropped(f32(e${i}), pr${i} + j, base);`),
      ...perCell(r, c, (i, j) => `a${i}_${j} = fma(vec4<f32>(d${i}), v${j}, a${i}_${j});`),
    ],
    STORE: perCell(
      r,
      c,
      (i, j) => `if (ok${i}) { O[ob + row${i} * hc + ${j}u] = vec4<${t}>(a${i}_${j}); }`,
    ),
  };
}

function bwdQParts(t: string, r: number, c: number, _save: boolean): Record<string, string[]> {
  return {
    ROWS: rows(r, true),
    LOADG: [
      ...perCell(r, c, (i, j) => `let g${i}_${j} = vec4<f32>(G[gb + row${i} * hc + ${j}u]);`),
      ...perRow(
        r,
        (i) =>
          `let dd${i} = ${
            dotRow(c, (j) => `g${i}_${j}`, (j) => `vec4<f32>(O[ob + row${i} * hc + ${j}u])`)
          };`,
      ),
    ],
    INIT: perCell(r, c, (i, j) => `var a${i}_${j} = vec4<f32>(0.0);`),
    STEP: [
      "let kj = kb + j * pu(16u); let vj = vb + j * pu(19u);",
      ...range(c).map((j) => `let k${j} = vec4<f32>(K[kj + ${j}u]);`),
      ...range(c).map((j) => `let v${j} = vec4<f32>(V[vj + ${j}u]);`),
      ...perRow(r, (i) => `let p${i} = f32(Pr[pr${i} + j]);`),
      ...perRow(
        r,
        (i) =>
          `let dp${i} = dropped_grad(${
            dotRow(c, (j) => `g${i}_${j}`, (j) => `v${j}`)
          }, pr${i} + j, base);` +
          ` let ds${i} = p${i} * (dp${i} - dd${i}); if (ok${i}) { dS[pr${i} + j] = ds${i}; }`,
      ),
      ...perCell(r, c, (i, j) => `a${i}_${j} = fma(vec4<f32>(ds${i}), k${j}, a${i}_${j});`),
    ],
    STORE: perCell(
      r,
      c,
      (i, j) => `if (ok${i}) { dQ[db + row${i} * hc + ${j}u] = vec4<${t}>(a${i}_${j} * scale); }`,
    ),
  };
}

function bwdKVParts(t: string, r: number, c: number, _save: boolean): Record<string, string[]> {
  return {
    ROWS: rows(r, false),
    INIT: perCell(
      r,
      c,
      (i, j) => `var dk${i}_${j} = vec4<f32>(0.0); var dv${i}_${j} = vec4<f32>(0.0);`,
    ),
    STEP: [
      ...range(c).map((j) => `let g${j} = vec4<f32>(G[gb + q * hc + ${j}u]);`),
      ...range(c).map((j) => `let x${j} = vec4<f32>(Q[qb + q * pu(13u) + ${j}u]);`),
      ...perRow(r, (i) =>
        `let p${i} = f32(Pr[pq + row${i}]); let ds${i} = dS[pq + row${i}];` +
        ` let pd${i} = dropped(p${i}, pq + row${i}, base);`),
      ...perCell(r, c, (i, j) =>
        `dv${i}_${j} = fma(vec4<f32>(pd${i}), g${j}, dv${i}_${j});` +
        ` dk${i}_${j} = fma(vec4<f32>(ds${i}), x${j}, dk${i}_${j});`),
    ],
    STORE: perCell(
      r,
      c,
      (i, j) =>
        `if (ok${i}) { dK[db + row${i} * hc + ${j}u] = vec4<${t}>(dk${i}_${j} * scale);` +
        ` dV[db + row${i} * hc + ${j}u] = vec4<${t}>(dv${i}_${j}); }`,
    ),
  };
}

const SOURCES = {
  fwd: [fwdSrc, fwdParts],
  q: [bwdQSrc, bwdQParts],
  kv: [bwdKVSrc, bwdKVParts],
} as const;

function attnKernel(kind: Kind, t: string, tm: string, c: number, r: number, save: boolean) {
  const key = `attention_${kind}:${t}:${tm}:${c}:${r}:${save}`;
  return generatedKernel(`attention_${kind}`, key, () => {
    const [src, parts] = SOURCES[kind];
    const gen = Object.entries(parts(t, r, c, save)).map(([k, v]) => [k, v.join("\n  ")]);
    return {
      source: commonSrc + src,
      defs: { T: t, TM: tm, R: r, C: c, WG, ...Object.fromEntries(gen) },
    };
  });
}

/** The shared parameter words (shaders/attention_common.wgsl) for a kernel of `kind`. */
function params(a: AttentionArgs, kind: Kind, gOff = 0, oOff = 0): number[] {
  const [b, s, h] = a.q.shape, c = h / a.heads / 4, nblk = Math.ceil(s / rowBlock(kind, c, s));
  const d = a.drop, m = a.mask;
  return [
    b * a.heads * nblk,
    s,
    a.heads,
    nblk,
    f32bits(a.scale),
    m ? 1 : 0,
    d ? 1 : 0,
    (d?.seed ?? 0) >>> 0,
    (d?.counter ?? 0) >>> 0,
    d ? Math.min(Math.round(d.p * 2 ** 32), 2 ** 32 - 1) : 0,
    f32bits(d ? 1 / (1 - d.p) : 1),
    ...vec4Layout(a.q)!,
    ...vec4Layout(a.k)!,
    ...vec4Layout(a.v)!,
    m?.offset ?? 0,
    m && m.shape[0] !== 1 ? m.strides[0] : 0,
    m && s > 1 ? m.strides[3] : 0,
    gOff,
    oOff,
  ];
}

function launch(kind: Kind, a: AttentionArgs, bindings: Binding[], p: number[], save = false) {
  const tm = a.mask?.dtype ?? a.q.dtype, c = a.q.shape[2] / a.heads / 4, s = a.q.shape[1];
  const k = attnKernel(kind, a.q.dtype, tm, c, rowBlock(kind, c, s), save);
  dispatch(k, bindings, p, Math.ceil(p[0] / WG));
}

/**
 * The context [b, s, h] (dense) and, when `save` (for a backward pass), the probabilities
 * [b, heads, s, s] before dropout.
 */
export function attentionForward(
  a: AttentionArgs,
  save: boolean,
): { out: Tensor; probs: Tensor | null } {
  const [b, s, h] = a.q.shape;
  const probs = save
    ? Tensor.empty([b, a.heads, s, s], a.q.dtype, "attention probabilities")
    : null;
  const out = Tensor.empty([b, s, h], a.q.dtype, "attention");
  launch(
    "fwd",
    a,
    [
      { buffer: a.q.buffer, what: "queries" },
      { buffer: a.k.buffer, what: "keys" },
      { buffer: a.v.buffer, what: "values" },
      { buffer: (a.mask ?? a.q).buffer, what: "mask" },
      { buffer: out.buffer, what: "attention output" },
      ...(probs ? [{ buffer: probs.buffer, what: "attention probabilities" }] : []),
    ],
    params(a, "fwd"),
    save,
  );
  return { out, probs };
}

/** A dense view of x at a vec4-aligned offset, or a dense copy. */
function dense4(x: Tensor): Tensor {
  if (x.isContiguous() && x.offset % 4 === 0) return x.view(x.shape, x.strides, x.offset);
  const d = Tensor.empty(x.shape, x.dtype, "attention gradient");
  copyInto(d, x);
  return d;
}

/** dQ, dK, dV (dense [b, s, h]) from the output's gradient g. */
export function attentionBackward(
  a: AttentionArgs,
  out: Tensor,
  probs: Tensor,
  g: Tensor,
): Tensor[] {
  const [b, s, h] = a.q.shape;
  const g4 = dense4(g);
  const dS = Tensor.empty([b, a.heads, s, s], "f32", "attention score gradient");
  const [dq, dk, dv] = ["dQ", "dK", "dV"].map((w) => Tensor.empty([b, s, h], a.q.dtype, w));
  const pq = params(a, "q", g4.offset / 4, out.offset / 4);
  launch("q", a, [
    { buffer: a.k.buffer, what: "keys" },
    { buffer: a.v.buffer, what: "values" },
    { buffer: g4.buffer, what: "output gradient" },
    { buffer: out.buffer, what: "attention output" },
    { buffer: probs.buffer, what: "attention probabilities" },
    { buffer: dS.buffer, what: "attention score gradient" },
    { buffer: dq.buffer, what: "query gradient" },
  ], pq);
  launch("kv", a, [
    { buffer: a.q.buffer, what: "queries" },
    { buffer: g4.buffer, what: "output gradient" },
    { buffer: probs.buffer, what: "attention probabilities" },
    { buffer: dS.buffer, what: "attention score gradient" },
    { buffer: dk.buffer, what: "key gradient" },
    { buffer: dv.buffer, what: "value gradient" },
  ], params(a, "kv", g4.offset / 4, out.offset / 4));
  g4.dispose();
  dS.dispose();
  return [dq, dk, dv];
}

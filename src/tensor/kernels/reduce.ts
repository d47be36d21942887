// Reduction kernels over one axis, recording no gradient: reduceRaw (sum or max, the axis
// kept with size 1), sumTo, which undoes broadcasting in backward passes, and sums over
// many tensors (sumOfSquares, nonFiniteCount), many tensors per dispatch where allowed.
import { elementKernel, generatedKernel } from "../../gpu/kernel.ts";
import { type Binding, dispatch, f32bits } from "../../gpu/queue.ts";
import { numel, Tensor } from "../tensor.ts";
import { contiguousRaw, reshapeRaw } from "./shape.ts";
import { full } from "./elementwise.ts";
import { rowDispatch } from "./rowwise.ts";
import { branches, tensorGroups } from "./multi_tensor.ts";
import rowsSrc from "../../../shaders/reduce_rows.wgsl" with { type: "text" };
import multiSrc from "../../../shaders/reduce_multi.wgsl" with { type: "text" };
import colsSrc from "../../../shaders/reduce_cols.wgsl" with { type: "text" };

/**
 * Longest stretch of the reduced axis one invocation (columns) or workgroup (rows) walks;
 * longer axes reduce in two stages (llvmpipe ends loops after 65,535 iterations).
 */
const COL_CHUNK = 4096;
const ROW_CHUNK = 1 << 20;
/** Elements one invocation of reduce_multi sums (a workgroup: 256 times as many). */
const RUN = 256;

const OPS = {
  sum: { OP: "a + b", INIT: "0.0", WG_REDUCE: "wg_sum" },
  max: { OP: "max(a, b)", INIT: "-3.4028235e38", WG_REDUCE: "wg_max" },
};

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/**
 * Records the reduction of dense rows [outer, n] into out[outOffset + (o * chunks + c)],
 * chunks = ceil(n / ROW_CHUNK); returns chunks.
 */
function rowsInto(
  x: Tensor,
  outer: number,
  n: number,
  out: Tensor,
  outOffset: number,
  kind: keyof typeof OPS,
  map: string,
  scale: number,
): number {
  const chunks = Math.ceil(n / ROW_CHUNK);
  rowDispatch(
    "reduce_rows",
    rowsSrc,
    Math.min(n, ROW_CHUNK),
    {
      T: out.dtype,
      MAP: map,
      ...OPS[kind],
    },
    [{ buffer: x.buffer, what: "input" }, { buffer: out.buffer, what: "output" }],
    [
      outer * chunks,
      n,
      x.offset,
      f32bits(chunks === 1 ? scale : 1),
      outOffset,
      ROW_CHUNK,
      chunks,
    ],
    outer * chunks,
  );
  return chunks;
}

/** Sum or max of x over `axis`, times `scale`; the reduced axis is kept with size 1. */
export function reduceRaw(x: Tensor, axis: number, kind: keyof typeof OPS, scale: number): Tensor {
  const a = normAxis(axis, x.rank);
  const outer = numel(x.shape.slice(0, a)), n = x.shape[a], inner = numel(x.shape.slice(a + 1));
  const shape = x.shape.map((d, i) => (i === a ? 1 : d));
  const dtype = x.dtype === "f16" ? "f16" : "f32";
  const chunks = Math.ceil(n / (inner === 1 ? ROW_CHUNK : COL_CHUNK));
  // Long reduced axes go in two stages: chunk partials, then a reduction over the chunks.
  const out = Tensor.empty(chunks === 1 ? shape : [outer, chunks, inner], dtype, kind);
  const xc = contiguousRaw(x);
  if (inner === 1) rowsInto(xc, outer, n, out, 0, kind, "v", scale);
  else {
    const total = outer * chunks * inner;
    const p = [total, n, inner, xc.offset, f32bits(chunks === 1 ? scale : 1), COL_CHUNK, chunks];
    const defs = { T: dtype, ...OPS[kind] };
    dispatch(
      elementKernel("reduce_cols", colsSrc, defs),
      [
        { buffer: xc.buffer, what: "input" },
        { buffer: out.buffer, what: "output" },
      ],
      p,
      Math.ceil(total / 256),
    );
  }
  xc.dispose();
  if (chunks === 1) return out;
  const r = reduceRaw(out, 1, kind, scale);
  const v = reshapeRaw(r, shape);
  out.dispose();
  r.dispose();
  return v;
}

/** Sum of squares over all elements of dense f32 tensors, as a [1] tensor (gradient norms). */
export function sumOfSquares(xs: Tensor[]): Tensor {
  return sumMapped(xs, "v * v", "squared norms");
}

/**
 * How many elements of dense f32 tensors are NaN or infinite, as a [1] f32 tensor. The test
 * reads the exponent bits (all ones), since WGSL lets compilers assume no NaN or infinity and
 * fold `v != v` away.
 */
export function nonFiniteCount(xs: Tensor[]): Tensor {
  return sumMapped(xs, "f32((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u)", "non-finite");
}

/**
 * The sum of `expr` of every element `v` of `xs`: partial sums (per tensor, or per run of a
 * group of tensors), then one pass over those.
 */
function sumMapped(xs: Tensor[], expr: string, what: string): Tensor {
  for (const x of xs) {
    if (!x.isContiguous() || x.dtype !== "f32") throw new Error(`${what} needs dense f32`);
  }
  const groups = tensorGroups(xs.length, 1, 1, 3, 4);
  if (groups) return sumMulti(xs, groups, expr, what);
  const slots = xs.reduce((s, x) => s + Math.ceil(x.size / ROW_CHUNK), 0);
  const partial = Tensor.empty([Math.max(1, slots)], "f32", what);
  let at = 0;
  for (const x of xs) at += rowsInto(x, 1, x.size, partial, at, "sum", expr, 1);
  const total = slots === 0 ? full([1], 0) : reduceRaw(partial, 0, "sum", 1);
  partial.dispose();
  return total;
}

function sumMulti(xs: Tensor[], groups: number[][], expr: string, what: string): Tensor {
  const wgsOf = (x: Tensor) => Math.ceil(x.size / (256 * RUN));
  const slots = 256 * xs.reduce((s, x) => s + wgsOf(x), 0);
  if (slots === 0) return full([1], 0);
  const partial = Tensor.empty([slots], "f32", what);
  let at = 0;
  for (const group of groups) {
    const bindings: Binding[] = [{ buffer: partial.buffer, what: "partial sums" }];
    const words = [0, 256 * at, 0, 0];
    let wgs = 0;
    for (const i of group) {
      bindings.push({ buffer: xs[i].buffer, what: "input" });
      words.push(wgs, xs[i].size, xs[i].offset);
      wgs += wgsOf(xs[i]);
    }
    words[0] = wgs;
    dispatch(multiKernel(group.length, expr), bindings, words, wgs);
    at += wgs;
  }
  const total = reduceRaw(partial, 0, "sum", 1);
  partial.dispose();
  return total;
}

function multiKernel(k: number, expr: string) {
  return generatedKernel("reduce_multi", `reduce_multi${k}:${expr}`, () => {
    const decls = Array.from(
      { length: k },
      (_, t) => `@group(0) @binding(${2 + t}) var<storage, read> X${t}: array<f32>;`,
    ).join("\n");
    const body = (t: number, b: number) =>
      `    let end = min(pu(${b + 1}u), (w + 1u) * ${256 * RUN}u);
    for (var e = w * ${256 * RUN}u + li; e < end; e += 256u) {
      let v = X${t}[pu(${b + 2}u) + e];
      acc += ${expr};
    }`;
    return { source: multiSrc, defs: { DECLS: decls, BRANCHES: branches(k, 4, 3, body) } };
  });
}

/** Sums g over the axes that broadcasting added, giving a tensor of `shape` (no autograd). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  let cur = g;
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) {
      const next = reduceRaw(cur, i, "sum", 1);
      if (cur !== g) cur.dispose();
      cur = next;
    }
  }
  const r = reshapeRaw(cur, shape);
  if (cur !== g) cur.dispose();
  return r;
}

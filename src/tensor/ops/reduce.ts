// Reductions over one axis: sum, mean, max (gradient split evenly between tied maxima,
// as torch.amax does), and sumTo, which undoes broadcasting in backward passes.
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { GpuError } from "../../gpu/device.ts";
import { record } from "../autograd.ts";
import { numel, Tensor } from "../tensor.ts";
import { contiguous, expand, reshape } from "./shape.ts";
import { div, full, map, mul } from "./elementwise.ts";
import { rowDispatch } from "./rowwise.ts";
import rowsSrc from "../../../shaders/reduce_rows.wgsl" with { type: "text" };
import colsSrc from "../../../shaders/reduce_cols.wgsl" with { type: "text" };

/**
 * Longest stretch of the reduced axis one invocation (columns) or workgroup (rows) walks;
 * longer axes reduce in two stages (llvmpipe ends loops after 65,535 iterations).
 */
const COL_CHUNK = 4096;
const ROW_CHUNK = 1 << 20;

const OPS = {
  sum: { OP: "a + b", INIT: "0.0", WG_REDUCE: "wg_sum" },
  max: { OP: "max(a, b)", INIT: "-3.4028235e38", WG_REDUCE: "wg_max" },
};

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GpuError(`axis ${axis} out of range for rank ${rank}`);
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

/** Raw reduction kernel (no autograd); the reduced axis is kept with size 1. */
function reduceRaw(x: Tensor, axis: number, kind: keyof typeof OPS, scale: number): Tensor {
  const a = normAxis(axis, x.rank);
  const outer = numel(x.shape.slice(0, a)), n = x.shape[a], inner = numel(x.shape.slice(a + 1));
  const shape = x.shape.map((d, i) => (i === a ? 1 : d));
  const dtype = x.dtype === "f16" ? "f16" : "f32";
  const chunks = Math.ceil(n / (inner === 1 ? ROW_CHUNK : COL_CHUNK));
  // Long reduced axes go in two stages: chunk partials, then a reduction over the chunks.
  const out = Tensor.empty(chunks === 1 ? shape : [outer, chunks, inner], dtype, kind);
  const xc = contiguous(x);
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
  const v = reshape(r, shape);
  out.dispose();
  r.dispose();
  return v;
}

function dropAxis(t: Tensor, axis: number, keepDim: boolean): Tensor {
  if (keepDim) return t;
  const r = reshape(t, t.shape.filter((_, i) => i !== normAxis(axis, t.rank)));
  t.dispose();
  return r;
}

export function sum(x: Tensor, axis: number, keepDim = false): Tensor {
  const out = dropAxis(reduceRaw(x, axis, "sum", 1), axis, keepDim);
  return record(out, [x], (g) => [broadcastBack(g, x.shape, axis)]);
}

export function mean(x: Tensor, axis: number, keepDim = false): Tensor {
  const n = x.shape[normAxis(axis, x.rank)];
  const out = dropAxis(reduceRaw(x, axis, "sum", 1 / n), axis, keepDim);
  return record(out, [x], (g) => {
    const b = broadcastBack(g, x.shape, axis);
    const r = map("mulc", "a * c", b, null, 1 / n);
    b.dispose();
    return [r];
  });
}

export function max(x: Tensor, axis: number, keepDim = false): Tensor {
  const out = dropAxis(reduceRaw(x, axis, "max", 1), axis, keepDim);
  return record(out, [x], (g) => {
    const keptShape = x.shape.map((d, i) => (i === normAxis(axis, x.rank) ? 1 : d));
    const m = reshape(out, keptShape);
    const tie = map("eq", "select(0.0, 1.0, a == b)", x, m);
    const count = reduceRaw(tie, axis, "sum", 1);
    const gk = reshape(g, keptShape);
    const share = div(gk, count);
    const r = mul(tie, share);
    for (const t of [m, tie, count, gk, share]) t.dispose();
    return [r];
  });
}

/** Sum over all elements, as a [1] tensor. */
export function sumAll(x: Tensor): Tensor {
  const flat = reshape(x, [x.size]);
  const s = sum(flat, 0, true);
  flat.dispose();
  return s;
}

/** Sum of squares over all elements of dense f32 tensors, as a [1] tensor (gradient norms). */
export function sumOfSquares(xs: Tensor[]): Tensor {
  const slots = xs.reduce((s, x) => s + Math.ceil(x.size / ROW_CHUNK), 0);
  const partial = Tensor.empty([Math.max(1, slots)], "f32", "squared norms");
  let at = 0;
  for (const x of xs) {
    if (!x.isContiguous() || x.dtype !== "f32") throw new GpuError("sumOfSquares needs dense f32");
    at += rowsInto(x, 1, x.size, partial, at, "sum", "v * v", 1);
  }
  const total = slots === 0 ? full([1], 0) : reduceRaw(partial, 0, "sum", 1);
  partial.dispose();
  return total;
}

/** g (reduced over `axis`, dropped or kept) broadcast back to `shape`, dense. */
function broadcastBack(g: Tensor, shape: readonly number[], axis: number): Tensor {
  const a = normAxis(axis, shape.length);
  const kept = reshape(g, shape.map((d, i) => (i === a ? 1 : d)));
  const e = expand(kept, shape);
  const r = contiguous(e);
  kept.dispose();
  e.dispose();
  return r;
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
  const r = reshape(cur, shape);
  if (cur !== g) cur.dispose();
  return r;
}

// Reductions over one axis: sum, mean, max (gradient split evenly between tied maxima,
// as torch.amax does), and sumTo, which undoes broadcasting in backward passes.
import { kernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { GpuError } from "../../gpu/device.ts";
import { record } from "../autograd.ts";
import { numel, Tensor } from "../tensor.ts";
import { contiguous, expand, reshape } from "./shape.ts";
import { div, map, mul } from "./elementwise.ts";
import rowsSrc from "../../../shaders/reduce_rows.wgsl" with { type: "text" };
import colsSrc from "../../../shaders/reduce_cols.wgsl" with { type: "text" };

/** Longest run of the reduced axis one invocation walks (see shaders/reduce_cols.wgsl). */
const COL_CHUNK = 4096;

const OPS = {
  sum: { OP: "a + b", INIT: "0.0" },
  max: { OP: "max(a, b)", INIT: "-3.4028235e38" },
};

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GpuError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Raw reduction kernel (no autograd); the reduced axis is kept with size 1. */
function reduceRaw(x: Tensor, axis: number, kind: keyof typeof OPS, scale: number): Tensor {
  const a = normAxis(axis, x.rank);
  const outer = numel(x.shape.slice(0, a)), n = x.shape[a], inner = numel(x.shape.slice(a + 1));
  const shape = x.shape.map((d, i) => (i === a ? 1 : d));
  const dtype = x.dtype === "f16" ? "f16" : "f32";
  const defs = { T: dtype, MAP: "v", ...OPS[kind] };
  const xc = contiguous(x);
  const input = { buffer: xc.buffer, what: "input" };
  const chunks = inner === 1 ? 1 : Math.ceil(n / COL_CHUNK);
  // Long reduced axes go in two stages: chunk partials, then a reduction over the chunks.
  const out = Tensor.empty(chunks === 1 ? shape : [outer, chunks, inner], dtype, kind);
  const output = { buffer: out.buffer, what: "output" };
  if (inner === 1) {
    const p = [outer, n, xc.offset, f32bits(scale), 0];
    dispatch(kernel("reduce_rows", rowsSrc, defs), [input, output], p, outer);
  } else {
    const total = outer * chunks * inner;
    const p = [total, n, inner, xc.offset, f32bits(chunks === 1 ? scale : 1), COL_CHUNK, chunks];
    dispatch(kernel("reduce_cols", colsSrc, defs), [input, output], p, Math.ceil(total / 256));
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

/**
 * Adds the sum of squares of each dense f32 tensor into slot i of `out` ([xs.length]):
 * one dispatch per tensor, for global gradient norms.
 */
export function sumSquaresInto(xs: Tensor[], out: Tensor): void {
  const k = kernel("reduce_rows", rowsSrc, { T: "f32", MAP: "v * v", ...OPS.sum });
  xs.forEach((x, i) => {
    if (!x.isContiguous() || x.dtype !== "f32") {
      throw new GpuError("sumSquaresInto needs dense f32");
    }
    dispatch(k, [{ buffer: x.buffer, what: "input" }, { buffer: out.buffer, what: "sums" }], [
      1,
      x.size,
      x.offset,
      f32bits(1),
      out.offset + i,
    ], 1);
  });
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

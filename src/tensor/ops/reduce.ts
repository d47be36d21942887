// Reductions over one axis with autograd: sum, mean, max (gradient split evenly between
// tied maxima, as torch.amax does), sumAll. The kernels are in kernels/reduce.ts.
import { record } from "../autograd.ts";
import { mapRaw } from "../kernels/elementwise.ts";
import { normAxis, reduceRaw } from "../kernels/reduce.ts";
import { reshapeRaw } from "../kernels/shape.ts";
import type { Tensor } from "../tensor.ts";
import { div, mul } from "./elementwise.ts";
import { contiguous, expand, reshape } from "./shape.ts";

function dropAxis(t: Tensor, axis: number, keepDim: boolean): Tensor {
  if (keepDim) return t;
  const r = reshapeRaw(t, t.shape.filter((_, i) => i !== normAxis(axis, t.rank)));
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
    const r = mapRaw("mulc", "a * c", b, null, 1 / n);
    b.dispose();
    return [r];
  });
}

export function max(x: Tensor, axis: number, keepDim = false): Tensor {
  const out = dropAxis(reduceRaw(x, axis, "max", 1), axis, keepDim);
  return record(out, [x], (g) => {
    const keptShape = x.shape.map((d, i) => (i === normAxis(axis, x.rank) ? 1 : d));
    const m = reshape(out, keptShape);
    const tie = mapRaw("eq", "select(0.0, 1.0, a == b)", x, m);
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

// Shape ops. reshape, permute/transpose, slice and expand are views (no copy) when the
// layout allows; contiguous() and concat() copy through one strided-copy kernel
// (kernels/shape.ts).
import { record } from "../autograd.ts";
import { zeros } from "../kernels/elementwise.ts";
import { sumTo } from "../kernels/reduce.ts";
import { contiguousRaw, copyInto, reshapeRaw } from "../kernels/shape.ts";
import { Tensor } from "../tensor.ts";

/** A dense tensor with x's values: a view of x when x is already dense, else a copy. */
export function contiguous(x: Tensor): Tensor {
  return record(contiguousRaw(x), [x], (g) => [alias(g)]);
}

/** A new tensor object over the same storage (for gradients that pass through unchanged). */
function alias(g: Tensor): Tensor {
  return g.view(g.shape, g.strides, g.offset);
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return record(reshapeRaw(x, shape), [x], (g) => [reshapeRaw(g, x.shape)]);
}

export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new Error(`bad permutation [${axes}] for rank ${x.rank}`);
  }
  const out = x.view(axes.map((a) => x.shape[a]), axes.map((a) => x.strides[a]), x.offset);
  const inverse = axes.map((_, i) => axes.indexOf(i));
  return record(out, [x], (g) => [permute(g, inverse)]);
}

/** Swaps two axes (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const axes = [...Array(x.rank).keys()];
  const i = a < 0 ? a + x.rank : a, j = b < 0 ? b + x.rank : b;
  [axes[i], axes[j]] = [axes[j], axes[i]];
  return permute(x, axes);
}

/** Elements [start, end) along `axis`, as a view. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (!(0 <= start && start <= end && end <= x.shape[a])) {
    throw new Error(`slice [${start}, ${end}) out of range for axis ${a} of [${x.shape}]`);
  }
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const out = x.view(shape, x.strides, x.offset + start * x.strides[a]);
  return record(out, [x], (g) => {
    const dx = zeros(x.shape, g.dtype);
    const region = dx.view(shape, dx.strides, start * dx.strides[a]);
    copyInto(region, g);
    region.dispose();
    return [dx];
  });
}

/** Broadcasts size-1 (or missing leading) axes to `shape`, as a stride-0 view. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  if (lead < 0) throw new Error(`cannot expand [${x.shape}] to [${shape}]`);
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const xd = x.shape[i - lead];
    if (xd === d) return x.strides[i - lead];
    if (xd === 1) return 0;
    throw new Error(`cannot expand [${x.shape}] to [${shape}]`);
  });
  const out = x.view(shape, strides, x.offset);
  return record(out, [x], (g) => [sumTo(g, x.shape)]);
}

/** Joins tensors along `axis`. */
export function concat(xs: Tensor[], axis: number): Tensor {
  const a = axis < 0 ? axis + xs[0].rank : axis;
  for (const t of xs) {
    if (t.rank !== xs[0].rank || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new Error(`concat of [${xs.map((t) => `[${t.shape}]`)}] along axis ${a}`);
    }
  }
  const shape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((s, t) => s + t.shape[a], 0) : d));
  const out = Tensor.empty(shape, xs[0].dtype, "concat");
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    starts.push(at);
    const region = out.view(t.shape, out.strides, at * out.strides[a]);
    copyInto(region, t);
    region.dispose();
    at += t.shape[a];
  }
  return record(out, xs, (g) =>
    xs.map((t, i) => {
      const r = g.view(t.shape, g.strides, g.offset + starts[i] * g.strides[a]);
      return r;
    }));
}

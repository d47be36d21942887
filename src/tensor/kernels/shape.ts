// Layout kernels that record no gradient: the strided copy, and the dense view or copy that
// other kernels take their inputs through (ops/shape.ts records contiguous and reshape).
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch } from "../../gpu/queue.ts";
import { contiguousStrides, numel, Tensor } from "../tensor.ts";
import copySrc from "../../../shaders/copy.wgsl" with { type: "text" };

/** Left-pads shapes and strides to the rank 6 that strided kernels index with. */
export function pad6(v: readonly number[], fillWith: number): number[] {
  if (v.length > 6) throw new Error(`rank ${v.length} > 6 is not supported`);
  return [...new Array(6 - v.length).fill(fillWith), ...v];
}

/** Copies src into the strided view dst (same shape); no autograd. */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (dst.shape.join() !== src.shape.join()) {
    throw new Error(`copy of [${src.shape}] into [${dst.shape}]`);
  }
  if (dst.dtype !== src.dtype) throw new Error(`copy of ${src.dtype} into ${dst.dtype}`);
  if (src.size === 0) return;
  const k = elementKernel("copy", copySrc, { T: src.dtype });
  dispatch(k, [{ buffer: src.buffer, what: "source" }, { buffer: dst.buffer, what: "dest" }], [
    src.size,
    src.offset,
    dst.offset,
    ...pad6(src.shape, 1),
    ...pad6(src.strides, 0),
    ...pad6(dst.strides, 0),
  ], Math.ceil(src.size / 256));
}

/** A dense tensor with x's values: a view of x when x is already dense, else a copy. */
export function contiguousRaw(x: Tensor): Tensor {
  if (x.isContiguous()) return x.view(x.shape, x.strides, x.offset);
  const out = Tensor.empty(x.shape, x.dtype, "contiguous");
  copyInto(out, x);
  return out;
}

/** x's values in `shape` (one axis may be -1): a view when x is dense, else of a copy. */
export function reshapeRaw(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  const s = [...shape];
  if (inferred >= 0) s[inferred] = x.size / numel(shape.filter((d) => d !== -1));
  if (numel(s) !== x.size || !s.every(Number.isInteger)) {
    throw new Error(`cannot reshape [${x.shape}] to [${shape}]`);
  }
  if (x.isContiguous()) return x.view(s, contiguousStrides(s), x.offset);
  const c = contiguousRaw(x);
  const out = c.view(s, contiguousStrides(s), c.offset);
  c.dispose();
  return out;
}

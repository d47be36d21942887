// Softmax over the last axis with an optional additive mask (attention padding).
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { broadcastShapes } from "../kernels/elementwise.ts";
import { rowDispatch } from "../kernels/rowwise.ts";
import { pad6 } from "../kernels/shape.ts";
import { contiguous, expand } from "./shape.ts";
import fwdSrc from "../../../shaders/softmax.wgsl" with { type: "text" };
import bwdSrc from "../../../shaders/softmax_grad.wgsl" with { type: "text" };

/** softmax(x + mask) along the last axis; the mask gets no gradient. */
export function softmax(x: Tensor, mask: Tensor | null = null): Tensor {
  if (x.rank > 6) throw new Error("softmax supports rank <= 6");
  const n = x.shape[x.rank - 1], rows = x.size / n;
  const xc = contiguous(x);
  let m = mask;
  if (mask && broadcastShapes(x.shape, mask.shape).join() !== x.shape.join()) {
    throw new Error(`softmax mask [${mask.shape}] does not broadcast to [${x.shape}]`);
  }
  if (mask) m = expand(mask, x.shape);
  const y = Tensor.empty(x.shape, x.dtype, "softmax");
  rowDispatch("softmax", fwdSrc, n, { T: x.dtype, TM: (m ?? xc).dtype }, [
    { buffer: xc.buffer, what: "input" },
    { buffer: (m ?? xc).buffer, what: "mask" },
    { buffer: y.buffer, what: "output" },
  ], [
    rows,
    n,
    xc.offset,
    ...pad6(x.shape, 1),
    ...(m ? pad6(m.strides, 0) : new Array(6).fill(0)),
    m?.offset ?? 0,
    m ? 1 : 0,
  ], rows);
  xc.dispose();
  m?.dispose();
  return record(y, [x], (g) => {
    const gc = contiguous(g);
    const dx = Tensor.empty(x.shape, x.dtype, "softmax grad");
    rowDispatch(
      "softmax_grad",
      bwdSrc,
      n,
      { T: x.dtype },
      [
        { buffer: y.buffer, what: "softmax output" },
        { buffer: gc.buffer, what: "gradient" },
        { buffer: dx.buffer, what: "input gradient" },
      ],
      [rows, n, y.offset, gc.offset],
      rows,
    );
    gc.dispose();
    return [dx];
  });
}

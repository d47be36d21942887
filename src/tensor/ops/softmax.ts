// Softmax over the last axis with an optional additive mask (attention padding).
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { broadcastShapes } from "../kernels/elementwise.ts";
import { rowDispatch, rowWidth, vec4Rows } from "../kernels/rowwise.ts";
import { pad6 } from "../kernels/shape.ts";
import { contiguous, expand } from "./shape.ts";
import fwdSrc from "../../../shaders/softmax.wgsl" with { type: "text" };
import bwdSrc from "../../../shaders/softmax_grad.wgsl" with { type: "text" };

/**
 * How a vec4 softmax reads the (expanded) mask from its row start m0: one value splat
 * along a row it is broadcast over, or vec4s of a dense row starting at a multiple of 4.
 * Null when neither applies; at width 1 the mask is read element by element.
 */
function maskRead(m: Tensor | null, vec4: boolean): { VM: string; LOAD_MASK: string } | null {
  const t = m?.dtype ?? "f32", last = m ? m.strides[m.rank - 1] : 0;
  if (!vec4) return { VM: t, LOAD_MASK: "VF(Mask[m0 + j * pu(14u)])" };
  if (!m || last === 0) return { VM: t, LOAD_MASK: "VF(f32(Mask[m0]))" };
  const aligned = m.offset % 4 === 0 && m.strides.every((s, i) => i === m.rank - 1 || s % 4 === 0);
  return last === 1 && aligned ? { VM: `vec4<${t}>`, LOAD_MASK: "VF(Mask[m0 / 4u + j])" } : null;
}

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
  const vec4 = vec4Rows(n, [xc.offset]) && maskRead(m, true) !== null;
  const defs = { ...rowWidth(vec4, x.dtype), ...maskRead(m, vec4)! };
  rowDispatch("softmax", fwdSrc, n, defs, [
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
      rowWidth(vec4Rows(n, [y.offset, gc.offset]), x.dtype),
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

// Losses: cross-entropy with logits and an ignore index, BCE with logits. Both average
// over the counted elements and keep everything on the GPU (no readback per step).
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch } from "../../gpu/queue.ts";
import { noGrad, record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { mapRaw } from "../kernels/elementwise.ts";
import { rowDispatch } from "../kernels/rowwise.ts";
import { div, mul } from "./elementwise.ts";
import { sumAll } from "./reduce.ts";
import { contiguous, slice } from "./shape.ts";
import fwdSrc from "../../../shaders/cross_entropy.wgsl" with { type: "text" };
import bwdSrc from "../../../shaders/cross_entropy_grad.wgsl" with { type: "text" };

/** Mean cross-entropy of logits [..., C] against i32 labels [...]; ignored rows count 0. */
export function crossEntropy(logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const c = logits.shape[logits.rank - 1], rows = logits.size / c;
  if (labels.dtype !== "i32" || labels.size !== rows) {
    throw new Error(`cross-entropy labels must be i32 with ${rows} values, got ${labels}`);
  }
  const host = labels.storage.host?.subarray(labels.offset, labels.offset + rows);
  const bad = host?.find((v) => v !== ignoreIndex && (v < 0 || v >= c));
  if (bad !== undefined) throw new Error(`label ${bad} out of range for ${c} classes`);
  const xc = contiguous(logits);
  const lc = contiguous(labels);
  const perRow = Tensor.empty([rows, 3], "f32", "cross-entropy rows");
  rowDispatch(
    "cross_entropy",
    fwdSrc,
    c,
    { T: logits.dtype },
    [
      { buffer: xc.buffer, what: "logits" },
      { buffer: lc.buffer, what: "labels" },
      { buffer: perRow.buffer, what: "row losses" },
    ],
    [rows, c, xc.offset, lc.offset, ignoreIndex >>> 0],
    rows,
  );
  const [loss, count] = noGrad(() => {
    const l = slice(perRow, 1, 0, 1), v = slice(perRow, 1, 1, 2);
    const total = sumAll(l), valid = sumAll(v);
    const count = mapRaw("clamp_count", "max(a, 1.0)", valid);
    const loss = div(total, count);
    for (const t of [l, v, total, valid]) t.dispose();
    return [loss, count];
  });
  return record(loss, [logits], (g) => {
    const scale = div(g, count);
    const dx = Tensor.empty(logits.shape, logits.dtype, "cross-entropy grad");
    dispatch(
      elementKernel("cross_entropy_grad", bwdSrc, { T: logits.dtype }),
      [
        { buffer: xc.buffer, what: "logits" },
        { buffer: lc.buffer, what: "labels" },
        { buffer: perRow.buffer, what: "row statistics" },
        { buffer: scale.buffer, what: "scale" },
        { buffer: dx.buffer, what: "logits gradient" },
      ],
      [logits.size, c, xc.offset, lc.offset, ignoreIndex >>> 0],
      Math.ceil(logits.size / 256),
    );
    scale.dispose();
    return [dx];
  });
}

/** Mean binary cross-entropy of logits against float targets of the same shape. */
export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  if (logits.shape.join() !== targets.shape.join()) {
    throw new Error(`BCE targets [${targets.shape}] do not match logits [${logits.shape}]`);
  }
  const n = logits.size;
  const loss = noGrad(() => {
    // Stable form: max(x, 0) - x*y + log(1 + exp(-|x|)).
    const e = mapRaw("bce", "max(a, 0.0) - a * b + log(1.0 + exp(-abs(a)))", logits, targets);
    const s = sumAll(e);
    const m = mapRaw("mulc", "a * c", s, null, 1 / n);
    e.dispose();
    s.dispose();
    return m;
  });
  return record(loss, [logits], (g) => {
    const d = mapRaw("bce_grad", "1.0 / (1.0 + exp(-a)) - b", logits, targets);
    const gs = mapRaw("mulc", "a * c", g, null, 1 / n);
    const r = mul(d, gs);
    d.dispose();
    gs.dispose();
    return [r];
  });
}

// Layer norm over the last axis (Welford statistics), with gamma and beta.
import { f32bits } from "../../gpu/queue.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { contiguous, reshape } from "./shape.ts";
import { sum } from "./reduce.ts";
import { rowDispatch, rowWidth, vec4Rows } from "../kernels/rowwise.ts";
import fwdSrc from "../../../shaders/layernorm.wgsl" with { type: "text" };
import bwdSrc from "../../../shaders/layernorm_grad.wgsl" with { type: "text" };

export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const n = x.shape[x.rank - 1], rows = x.size / n;
  if (gamma.size !== n || beta.size !== n) {
    throw new Error(
      `layer norm over ${n} features got gamma [${gamma.shape}], beta [${beta.shape}]`,
    );
  }
  if (gamma.dtype !== beta.dtype) throw new Error("layer norm gamma and beta dtypes differ");
  const xc = contiguous(x);
  const y = Tensor.empty(x.shape, x.dtype, "layer norm");
  const stats = Tensor.empty([rows, 2], "f32", "layer norm stats");
  rowDispatch(
    "layernorm",
    fwdSrc,
    n,
    rowWidth(vec4Rows(n, [xc.offset, gamma.offset, beta.offset]), x.dtype, gamma.dtype),
    [
      { buffer: xc.buffer, what: "input" },
      { buffer: gamma.buffer, what: "gamma" },
      { buffer: beta.buffer, what: "beta" },
      { buffer: y.buffer, what: "output" },
      { buffer: stats.buffer, what: "statistics" },
    ],
    [rows, n, xc.offset, f32bits(eps), gamma.offset, beta.offset],
    rows,
  );
  const out = record(y, [x, gamma, beta], (g) => {
    const gc = contiguous(g);
    const dx = Tensor.empty(x.shape, x.dtype, "layer norm grad");
    const gxh = Tensor.empty([rows, n], "f32", "layer norm g*xhat");
    rowDispatch(
      "layernorm_grad",
      bwdSrc,
      n,
      rowWidth(vec4Rows(n, [xc.offset, gc.offset, gamma.offset]), x.dtype, gamma.dtype),
      [
        { buffer: xc.buffer, what: "input" },
        { buffer: gc.buffer, what: "gradient" },
        { buffer: gamma.buffer, what: "gamma" },
        { buffer: stats.buffer, what: "statistics" },
        { buffer: dx.buffer, what: "input gradient" },
        { buffer: gxh.buffer, what: "g*xhat" },
      ],
      [rows, n, xc.offset, gc.offset, gamma.offset],
      rows,
    );
    const g2 = reshape(gc, [rows, n]);
    const dGamma = gamma.requiresGrad ? reshape(sum(gxh, 0), gamma.shape) : null;
    const dBeta = beta.requiresGrad ? reshape(sum(g2, 0), beta.shape) : null;
    for (const t of [gc, gxh, g2]) t.dispose();
    return [dx, dGamma, dBeta];
  });
  // Inference keeps nothing for a backward pass.
  if (!out.node) {
    xc.dispose();
    stats.dispose();
  }
  return out;
}

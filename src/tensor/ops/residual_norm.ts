// layerNorm(dropout(x) + residual) as one recorded op: one row kernel forward (it keeps
// only h = dropout(x) + residual and the row statistics) and one backward giving the
// gradients of x, residual, gamma and beta. Same results as the separate ops: the dropout
// mask is dropout.ts's (same hash, same seed and counter draw), values rounded where they
// store them.
import { f32bits } from "../../gpu/queue.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { rowDispatch, rowWidth, vec4Rows } from "../kernels/rowwise.ts";
import { contiguous, reshape } from "./shape.ts";
import { sum } from "./reduce.ts";
import type { DropoutRng } from "./dropout.ts";
import fwdSrc from "../../../shaders/residual_layernorm.wgsl" with { type: "text" };
import bwdSrc from "../../../shaders/residual_layernorm_grad.wgsl" with { type: "text" };

/** Dropout on x before the sum; p = 0 or null means none (and draws no counter). */
export interface ResidualDropout {
  p: number;
  rng: DropoutRng;
}

let fused = true;
/** Chooses the fused kernels (default) or the separate ops (tests, benchmarks). */
export function setResidualNormFused(on: boolean): void {
  fused = on;
}
export const residualNormFused = () => fused;

/** layerNorm(dropout(x) + residual, gamma, beta); x and residual of one shape and dtype. */
export function residualLayerNorm(
  x: Tensor,
  residual: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps = 1e-5,
  drop: ResidualDropout | null = null,
): Tensor {
  const n = x.shape[x.rank - 1], rows = x.size / n;
  if (x.shape.join() !== residual.shape.join() || x.dtype !== residual.dtype) {
    throw new Error(
      `residual layer norm: x [${x.shape}] ${x.dtype}, residual [${residual.shape}] ` +
        `${residual.dtype}`,
    );
  }
  if (gamma.size !== n || beta.size !== n || gamma.dtype !== beta.dtype) {
    throw new Error(
      `layer norm over ${n} features got gamma [${gamma.shape}], beta [${beta.shape}]`,
    );
  }
  const p = drop?.p ?? 0;
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability ${p} not in [0, 1)`);
  const seed = drop && p > 0 ? drop.rng.seed >>> 0 : 0;
  const counter = drop && p > 0 ? drop.rng.counter++ >>> 0 : 0;
  const dropParams = [
    seed,
    counter,
    Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1),
    f32bits(p > 0 ? 1 / (1 - p) : 1),
    p > 0 ? 1 : 0,
  ];
  const xc = contiguous(x), rc = contiguous(residual);
  const h = Tensor.empty(x.shape, x.dtype, "residual sum");
  const y = Tensor.empty(x.shape, x.dtype, "layer norm");
  const stats = Tensor.empty([rows, 2], "f32", "layer norm stats");
  const width = (offsets: number[]) =>
    rowWidth(vec4Rows(n, [...offsets, gamma.offset]), x.dtype, gamma.dtype);
  rowDispatch("residual_layernorm", fwdSrc, n, width([xc.offset, rc.offset, beta.offset]), [
    { buffer: xc.buffer, what: "input" },
    { buffer: rc.buffer, what: "residual" },
    { buffer: gamma.buffer, what: "gamma" },
    { buffer: beta.buffer, what: "beta" },
    { buffer: h.buffer, what: "residual sum" },
    { buffer: y.buffer, what: "output" },
    { buffer: stats.buffer, what: "statistics" },
  ], [
    rows,
    n,
    xc.offset,
    rc.offset,
    f32bits(eps),
    gamma.offset,
    beta.offset,
    ...dropParams,
  ], rows);
  xc.dispose();
  rc.dispose();
  const out = record(y, [x, residual, gamma, beta], (g) => {
    const gc = contiguous(g);
    const dr = Tensor.empty(x.shape, x.dtype, "residual grad");
    const dx = Tensor.empty(x.shape, x.dtype, "residual layer norm grad");
    const gxh = Tensor.empty([rows, n], "f32", "layer norm g*xhat");
    rowDispatch(
      "residual_layernorm_grad",
      bwdSrc,
      n,
      width([gc.offset]),
      [
        { buffer: h.buffer, what: "residual sum" },
        { buffer: gc.buffer, what: "gradient" },
        { buffer: gamma.buffer, what: "gamma" },
        { buffer: stats.buffer, what: "statistics" },
        { buffer: dr.buffer, what: "residual gradient" },
        { buffer: dx.buffer, what: "input gradient" },
        { buffer: gxh.buffer, what: "g*xhat" },
      ],
      [rows, n, gc.offset, gamma.offset, ...dropParams],
      rows,
    );
    const g2 = reshape(gc, [rows, n]);
    const dGamma = gamma.requiresGrad ? reshape(sum(gxh, 0), gamma.shape) : null;
    const dBeta = beta.requiresGrad ? reshape(sum(g2, 0), beta.shape) : null;
    for (const t of [gc, gxh, g2]) t.dispose();
    return [dx, dr, dGamma, dBeta];
  });
  // Inference keeps nothing for a backward pass.
  if (!out.node) {
    h.dispose();
    stats.dispose();
  }
  return out;
}

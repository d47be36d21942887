// One AdamW update of a parameter in place (shaders/adamw.wgsl): moments, bias correction,
// decoupled weight decay, and the clip factor read from the gradient-norm tensor on the GPU,
// so a step needs no readback.
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import type { Tensor } from "../tensor.ts";
import src from "../../../shaders/adamw.wgsl" with { type: "text" };

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta^step for each moment. */
  bc1: number;
  bc2: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm: number;
}

/** Updates `p` (dense f32) and its moments `m`, `v` from gradient `g` and the global `norm`. */
export function adamwUpdate(
  p: Tensor,
  g: Tensor,
  m: Tensor,
  v: Tensor,
  norm: Tensor,
  s: AdamWStep,
): void {
  dispatch(elementKernel("adamw", src), [
    { buffer: p.buffer, what: "parameter" },
    { buffer: g.buffer, what: "gradient" },
    { buffer: m.buffer, what: "first moment" },
    { buffer: v.buffer, what: "second moment" },
    { buffer: norm.buffer, what: "gradient norm" },
  ], [
    p.size,
    f32bits(s.lr),
    f32bits(s.beta1),
    f32bits(s.beta2),
    f32bits(s.eps),
    f32bits(s.weightDecay),
    f32bits(s.bc1),
    f32bits(s.bc2),
    g.offset,
    f32bits(s.maxGradNorm),
  ], Math.ceil(p.size / 256));
}

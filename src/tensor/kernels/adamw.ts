// One AdamW update of a parameter in place (shaders/adamw.wgsl): moments, bias correction,
// decoupled weight decay, and the clip factor read from the gradient-norm tensor on the GPU,
// so a step needs no readback. adamwUpdateAll updates many parameters per dispatch
// (shaders/adamw_multi.wgsl, the same f32 operations per element).
import { elementKernel, generatedKernel } from "../../gpu/kernel.ts";
import { type Binding, dispatch, f32bits } from "../../gpu/queue.ts";
import type { Tensor } from "../tensor.ts";
import { branches, tensorGroups } from "./multi_tensor.ts";
import src from "../../../shaders/adamw.wgsl" with { type: "text" };
import multiSrc from "../../../shaders/adamw_multi.wgsl" with { type: "text" };

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

/** One parameter of adamwUpdateAll: dense f32 p, its gradient, moments and weight decay. */
export interface AdamWItem {
  p: Tensor;
  g: Tensor;
  m: Tensor;
  v: Tensor;
  weightDecay: number;
}

/** adamwUpdate for every item, as few dispatches as the adapter's bindings allow. */
export function adamwUpdateAll(
  items: AdamWItem[],
  norm: Tensor,
  s: Omit<AdamWStep, "weightDecay">,
): void {
  const groups = tensorGroups(items.length, 4, 1, 4, 16);
  if (!groups) {
    for (const it of items) {
      adamwUpdate(it.p, it.g, it.m, it.v, norm, { ...s, weightDecay: it.weightDecay });
    }
    return;
  }
  const common = [0, s.lr, s.beta1, s.beta2, s.eps, 0, s.bc1, s.bc2, 0, s.maxGradNorm];
  for (const group of groups) {
    const k = group.length;
    const bindings: Binding[] = [{ buffer: norm.buffer, what: "gradient norm" }];
    const words = [...common.map(f32bits), 0, 0, 0, 0, 0, 0];
    let wgs = 0;
    group.forEach((idx, t) => {
      const { p, g, m, v, weightDecay } = items[idx];
      bindings.push(
        { buffer: p.buffer, what: "parameter" },
        { buffer: g.buffer, what: "gradient" },
        { buffer: m.buffer, what: "first moment" },
        { buffer: v.buffer, what: "second moment" },
      );
      words.splice(16 + 4 * t, 4, wgs, p.size, g.offset, f32bits(weightDecay));
      wgs += Math.ceil(p.size / 256);
    });
    words[0] = wgs;
    dispatch(multiKernel(k), bindings, words, wgs);
  }
}

function multiKernel(k: number) {
  return generatedKernel("adamw_multi", `adamw_multi${k}`, () => {
    const decls = Array.from(
      { length: k },
      (_, t) =>
        ["P", "G", "M", "V"].map((n, j) =>
          `@group(0) @binding(${2 + 4 * t + j}) var<storage, ${
            n === "G" ? "read" : "read_write"
          }> ${n}${t}: array<f32>;`
        ).join("\n"),
    ).join("\n");
    const body = (t: number, b: number) =>
      `    let i = w * 256u + li;
    if (i < pu(${b + 1}u)) {
      let g = G${t}[pu(${b + 2}u) + i] * clip;
      var p = P${t}[i] * (1.0 - lr * pf(${b + 3}u));
      let m = b1 * M${t}[i] + (1.0 - b1) * g;
      let v = b2 * V${t}[i] + (1.0 - b2) * g * g;
      M${t}[i] = m;
      V${t}[i] = v;
      p -= (lr / pf(6u)) * m / (sqrt(v) / sqrt(pf(7u)) + pf(4u));
      P${t}[i] = p;
    }`;
    return { source: multiSrc, defs: { DECLS: decls, BRANCHES: branches(k, 16, 4, body) } };
  });
}

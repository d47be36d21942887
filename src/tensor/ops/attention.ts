// Scaled dot-product attention over heads: softmax(scale Q K^T + mask), dropout, times V.
// Two paths with the same results and the same dropout masks: fused kernels that read
// Q, K, V in place (kernels/attention.ts), and the composite of batched products, softmax
// and dropout over permuted views (the reference, and the path on real GPUs, for which the
// fused kernels, tuned for llvmpipe, are not measured).
import { gpu } from "../../gpu/device.ts";
import { gradEnabled, record } from "../autograd.ts";
import {
  type AttentionArgs,
  attentionBackward,
  attentionForward,
  fusedAttentionSupported,
} from "../kernels/attention.ts";
import type { Tensor } from "../tensor.ts";
import { dropout, type DropoutRng } from "./dropout.ts";
import { matmul } from "./matmul.ts";
import { permute, reshape, transpose } from "./shape.ts";
import { softmax } from "./softmax.ts";

export type AttentionMode = "fused" | "composite";

let forced: AttentionMode | null = null;
/** Forces one path (tests and benchmarks compare them); null restores the adapter's choice. */
export function setAttentionMode(mode: AttentionMode | null): void {
  forced = mode;
}

/** The path attention() takes where the fused kernels support the operands. */
export function attentionMode(): AttentionMode {
  return forced ?? (gpu().isSoftware ? "fused" : "composite");
}

export { fusedAttentionSupported };

/** Dropout of the attention probabilities: rate and the stream it draws its mask from. */
export interface AttentionDropout {
  p: number;
  rng: DropoutRng;
}

/**
 * Multi-head attention: q, k, v [b, s, h] (h = heads x head_dim, the head an offset into h),
 * mask additive [b, 1, 1, s] or null, dropout on the probabilities or null; returns the
 * context [b, s, h]. Either path draws one dropout call (rng.counter++) per call.
 */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  scale: number,
  mask: Tensor | null,
  drop: AttentionDropout | null,
): Tensor {
  if (q.rank !== 3 || q.shape[2] % heads !== 0) {
    throw new Error(`attention over ${heads} heads got queries [${q.shape}]`);
  }
  if (drop && !(drop.p >= 0 && drop.p < 1)) {
    throw new Error(`dropout probability ${drop.p} not in [0, 1)`);
  }
  const d = drop && drop.p > 0 ? drop : null;
  if (attentionMode() === "fused" && fusedAttentionSupported(q, k, v, heads, mask)) {
    return fused(q, k, v, heads, scale, mask, d);
  }
  return composite(q, k, v, heads, scale, mask, d);
}

function fused(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  scale: number,
  mask: Tensor | null,
  drop: AttentionDropout | null,
): Tensor {
  const a: AttentionArgs = {
    q,
    k,
    v,
    heads,
    scale,
    mask,
    drop: drop && { p: drop.p, seed: drop.rng.seed, counter: drop.rng.counter++ },
  };
  // Inference computes no probabilities to keep for a backward pass.
  const save = gradEnabled() && [q, k, v].some((t) => t.requiresGrad);
  const { out, probs } = attentionForward(a, save);
  return save ? record(out, [q, k, v], (g) => attentionBackward(a, out, probs!, g)) : out;
}

/** [b, s, h] -> [b, heads, s, head_dim], as a view. */
function split(x: Tensor, heads: number): Tensor {
  const [b, s, h] = x.shape;
  return permute(reshape(x, [b, s, heads, h / heads]), [0, 2, 1, 3]);
}

function composite(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  scale: number,
  mask: Tensor | null,
  drop: AttentionDropout | null,
): Tensor {
  const [b, s, h] = q.shape;
  // Scaled in the product: f16 scores are rounded once, after the scale.
  const scores = matmul(split(q, heads), transpose(split(k, heads)), scale);
  const p = softmax(scores, mask);
  const probs = drop ? dropout(p, drop.p, drop.rng) : p;
  const ctx = matmul(probs, split(v, heads));
  return reshape(permute(ctx, [0, 2, 1, 3]), [b, s, h]);
}

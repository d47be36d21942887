// --cache-features for fac and lin: the frozen encoder is frozen and runs without dropout, so
// an example's hidden states never change. They are computed once, over a split's examples in
// length-ordered batches, and stored (train/feature_cache.ts); the InfusionModel then builds
// the split's batches from the store. A mask-"padding" adapter never reads padded positions,
// so each example keeps its own tokens; a mask-"all" one reads the released layout's padding
// (released_layout.ts), so each keeps all padTo slots.
import { readsPadding, releasedLayout } from "../models/released_layout.ts";
import { cast, concat, reshape, type Tensor } from "../tensor/mod.ts";
import {
  type CacheDtype,
  type CacheLayout,
  FeatureCache,
  type Put,
} from "../train/feature_cache.ts";
import { Progress, type ProgressOptions } from "../train/progress.ts";
import { type Examples, padBatch } from "./examples.ts";
import type { InfusionModel } from "./infusion.ts";
import { evaluateBatches } from "./task.ts";

/** What a cache of `ex`'s states for `m` holds: its examples' tokens, or padTo slots each. */
export function cacheLayout(m: InfusionModel, ex: Examples, dtype: CacheDtype): CacheLayout {
  const padded = readsPadding([m.adapter]);
  return {
    lengths: Int32Array.from({ length: ex.length }, (_, i) => padded ? m.padTo : ex.ids(i).length),
    states: m.keep.length,
    hidden: m.encoder.dims.hidden,
    dtype,
  };
}

/** The kept states of these examples as one f32 tensor [batch, states, seq, H]. */
function stacked(m: InfusionModel, ex: Examples, indices: number[]): Tensor {
  const padId = m.encoder.dims.padId, b = padBatch(ex, indices, padId);
  const input = readsPadding([m.adapter]) ? releasedLayout(b, m.padTo, padId) : b;
  const [n, s, h] = [input.batch, input.seqLen, m.encoder.dims.hidden];
  const f32 = (t: Tensor) => (t.dtype === "f32" ? t : cast(t, "f32"));
  return concat(m.states(input).map((t) => reshape(f32(t), [n, 1, s, h])), 1);
}

/** Each example's block [states, stored length, H] out of a batch's [batch, states, seq, H]. */
function putRows(layout: CacheLayout, indices: number[], v: Float32Array, put: Put): void {
  const { states: k, hidden: h } = layout, seq = v.length / (indices.length * k * h);
  indices.forEach((i, r) => {
    const n = layout.lengths[i] * h, block = new Float32Array(k * n);
    for (let j = 0; j < k; j++) {
      const from = (r * k + j) * seq * h;
      block.set(v.subarray(from, from + n), j * n);
    }
    put(i, block);
  });
}

/**
 * Runs the encoder over every example of `ex` in batches of `batch` and stores the states:
 * in memory (`path` null) or in the file `path`. `m` then reads `ex`'s batches from it.
 */
export async function cacheStates(
  m: InfusionModel,
  ex: Examples,
  layout: CacheLayout,
  o: { path: string | null; batch: number; progress?: ProgressOptions },
): Promise<void> {
  const cache = await FeatureCache.build(layout, o.path, async (put) => {
    const bar = new Progress(ex.length, { label: "cache", ...o.progress });
    try {
      await evaluateBatches(
        ex.length,
        (i) => ex.ids(i).length,
        o.batch,
        [],
        (indices) => stacked(m, ex, indices),
        (indices, v) => {
          putRows(layout, indices, v, put);
          bar.tick(indices.length);
        },
      );
    } finally {
      bar.finish();
    }
  });
  m.useCache(ex, cache);
}

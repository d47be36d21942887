// Test batches for the encoder: <s> random tokens </s>, then padding, at the given lengths.
import type { EncoderInput } from "../../src/models/roberta_inputs.ts";
import type { Rng } from "../setup.ts";

/** Ids 0 (<s>) and 2 (</s>) around random ids in [3, vocab); `pad` after each sequence. */
export function paddedBatch(rng: Rng, lengths: number[], vocab: number, pad = 1): EncoderInput {
  const seqLen = Math.max(...lengths), ids: number[] = [], mask: number[] = [];
  for (const n of lengths) {
    for (let s = 0; s < seqLen; s++) {
      ids.push(s >= n ? pad : s === 0 ? 0 : s === n - 1 ? 2 : rng.int(3, vocab));
      mask.push(s < n ? 1 : 0);
    }
  }
  return { inputIds: ids, attentionMask: mask, batch: lengths.length, seqLen };
}

// Masked-LM inputs as RoBERTa pretrains (and as K-Adapter's probing layer is trained): 15% of
// the ordinary tokens are chosen; of those 80% become <mask>, 10% a random ordinary token and
// 10% stay; the loss scores the chosen positions only. Seeded per call, so a checkpointed
// counter reproduces every mask after a resume.
import type { Rng } from "../nn/init.ts";
import { IGNORE } from "./metrics.ts";

export interface MlmMasking {
  /** Share of ordinary tokens chosen (0.15). */
  probability: number;
  maskId: number;
  vocab: number;
  /** Ids never chosen nor drawn as random replacements (<s>, </s>, <pad>, <mask>, ...). */
  specials: ReadonlySet<number>;
}

/**
 * Masks `ids` (a padded [batch * seq] row-major batch, or one sequence). Returns the model's
 * input and the labels: the original id at chosen positions, IGNORE elsewhere. At least one
 * token of a sequence with ordinary tokens is chosen, so no example is without a loss term.
 */
export function maskTokens(
  ids: ArrayLike<number>,
  seqLen: number,
  m: MlmMasking,
  rng: Rng,
): { input: Int32Array; labels: Int32Array } {
  const input = Int32Array.from(ids), labels = new Int32Array(ids.length).fill(IGNORE);
  const randomToken = () => {
    for (;;) {
      const t = rng.int(m.vocab);
      if (!m.specials.has(t)) return t;
    }
  };
  for (let start = 0; start < ids.length; start += seqLen) {
    const ordinary: number[] = [];
    for (let i = start; i < start + seqLen; i++) if (!m.specials.has(ids[i])) ordinary.push(i);
    const chosen = ordinary.filter(() => rng.next() < m.probability);
    if (chosen.length === 0 && ordinary.length > 0) chosen.push(ordinary[rng.int(ordinary.length)]);
    for (const i of chosen) {
      labels[i] = ids[i];
      const r = rng.next();
      if (r < 0.8) input[i] = m.maskId;
      else if (r < 0.9) input[i] = randomToken();
    }
  }
  return { input, labels };
}

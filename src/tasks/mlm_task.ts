// Masked-LM pretraining as a task (`kadapter model pretrain`): a `text` corpus as
// `<s> line </s>` examples, RoBERTa's dynamic masking per batch (mlm.ts), the mean
// cross-entropy over the chosen positions as RobertaForMaskedLM's with labels -100 elsewhere.
// Only the chosen rows of the last hidden state go through the head (a gather first): the same
// value and gradients, without vocabulary logits for the ~85% of positions the loss ignores.
// Dev: masked-LM loss (lower is better), accuracy and perplexity with fixed dev masks.
import type { RobertaModel } from "../models/roberta.ts";
import { crossEntropy, indexSelect, noGrad, reshape, Tensor, tidy } from "../tensor/mod.ts";
import { type Example, Examples } from "./examples.ts";
import {
  devMaskedBatch,
  encodeLine,
  type MaskedBatch,
  maskedBatch,
  maskedScores,
  type MlmMasking,
} from "./mlm.ts";
import type { Encoding, Task } from "./task.ts";

/** Vocabulary logits [chosen, vocab] at the chosen positions of a masked batch. */
export function maskedLogits(model: RobertaModel, mb: MaskedBatch): Tensor {
  if (mb.rows.length === 0) throw new Error("a masked batch without chosen tokens");
  const states = model.forward(mb.batch);
  const last = states[states.length - 1];
  const flat = reshape(last, [mb.batch.batch * mb.batch.seqLen, model.dims.hidden]);
  return model.mlmLogits(indexSelect(flat, 0, i32(mb.rows)));
}

const i32 = (values: Int32Array) => Tensor.from(values, [values.length], "i32");

/** Mean cross-entropy over the chosen positions of a masked batch ([1] tensor). */
export function mlmLoss(model: RobertaModel, mb: MaskedBatch): Tensor {
  return crossEntropy(maskedLogits(model, mb), i32(mb.gold));
}

/** Masks follow (seed, the batch's examples), so a resume reproduces them (mlm.ts). */
export function mlmTask(
  c: Encoding,
  m: MlmMasking,
  seed: number,
): Task<"text", Example, Examples, RobertaModel> {
  return {
    name: "mlm",
    schema: "text",
    bestMetric: "mlm_loss",
    lowerIsBetter: true,
    store: () => new Examples(c.vocab),
    encode: (row) => encodeLine(c.tok, row.text, c.maxLength),
    loss: (model, ex, indices) => mlmLoss(model, maskedBatch(ex, indices, m, c.padId, seed)),
    async evaluate(model, { ex }, batchSize) {
      const n = ex.length;
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
        ex.ids(a).length - ex.ids(b).length
      );
      let sum = 0, right = 0, count = 0;
      const wasTraining = model.training;
      model.train(false);
      try {
        for (let i = 0; i < n; i += batchSize) {
          const mb = devMaskedBatch(ex, order.slice(i, i + batchSize), m, c.padId, seed);
          if (mb.rows.length === 0) continue;
          const logits = tidy(() => noGrad(() => maskedLogits(model, mb)));
          try {
            const r = await maskedScores(logits, mb.gold);
            sum += r.lossSum;
            right += r.correct;
            count += mb.rows.length;
          } finally {
            logits.dispose();
          }
        }
      } finally {
        model.train(wasTraining);
      }
      const loss = count ? sum / count : 0;
      return {
        metrics: {
          mlm_loss: loss,
          mlm_accuracy: count ? right / count : 0,
          perplexity: Math.exp(loss),
        },
        predictions: [],
      };
    },
  };
}

// Masked-LM pretraining as a task (`kadapter model pretrain`): a `text` corpus as
// `<s> line </s>` examples, RoBERTa's dynamic masking per batch (mlm.ts's maskedLmTask), the
// mean cross-entropy over the chosen positions as RobertaForMaskedLM's with labels -100 elsewhere.
// Only the chosen rows of the last hidden state go through the head (a gather first): the same
// value and gradients, without vocabulary logits for the ~85% of positions the loss ignores.
// Dev: masked-LM loss (lower is better), accuracy and perplexity with fixed dev masks.
import type { RobertaModel } from "../models/roberta.ts";
import { indexSelect, reshape, Tensor } from "../tensor/mod.ts";
import type { Example, Examples } from "./examples.ts";
import { type MaskedBatch, maskedLmTask, type MlmMasking } from "./mlm.ts";
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

/** Pretraining a RoBERTa with its lm_head: dev masked-LM loss, accuracy and perplexity. */
export function mlmTask(
  c: Encoding,
  m: MlmMasking,
  seed: number,
): Task<"text", Example, Examples, RobertaModel> {
  return maskedLmTask(c, m, seed, {
    name: "mlm",
    logits: maskedLogits,
    modules: (model) => [model],
    byLength: true,
    bestMetric: "mlm_loss",
    metrics: (sum, right, count) => {
      const loss = count ? sum / count : 0;
      return {
        mlm_loss: loss,
        mlm_accuracy: count ? right / count : 0,
        perplexity: Math.exp(loss),
      };
    },
  });
}

// The masked-LM layer K-Adapter's LAMA probing trains (reference section 6): the model has no
// masked-LM head, so a new linear layer maps the final feature to vocabulary logits and is
// trained alone (encoder and adapters frozen) with RoBERTa's masking on raw text
// (runs/probe_mlm.ts, through the task below); its folder format is probe_mlm_folder.ts.
//
// The final feature of a token is cat(encoder last hidden state, adapter_1 output, ...,
// adapter_k output), in the order the adapters are given (models/adapter_features.ts), so the
// layer is one Linear((1 + k) * H -> vocab) (PyTorch's default init). k = 0 (no adapters: the
// last hidden state alone) is the fair encoder-alone baseline, a layer trained the same way on
// the same corpus (the encoder's own masked-LM head was trained on other text). Only the rows
// of masked positions go through it.
import { Rng, withoutInit } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import type { AdapterFeatures } from "../models/adapter_features.ts";
import { concat, indexSelect, reshape, Tensor } from "../tensor/mod.ts";
import type { Example, Examples } from "./examples.ts";
import { maskedLmTask, type MlmMasking } from "./mlm.ts";
import type { Encoding, Task } from "./task.ts";

/** Linear((1 + adapters) * hidden -> vocab) over the final feature, as `decoder`; adapters >= 0. */
export class ProbeMlmLayer extends Module {
  readonly decoder: Linear;

  constructor(
    readonly hidden: number,
    readonly adapters: number,
    readonly vocab: number,
    seed: number,
    { init = true } = {},
  ) {
    super();
    if (!(Number.isSafeInteger(adapters) && adapters >= 0)) {
      throw new Error(`the MLM layer reads a whole number of adapters, not ${adapters}`);
    }
    const make = () => new Linear((1 + adapters) * hidden, vocab, new Rng(seed));
    this.decoder = this.child("decoder", init ? make() : withoutInit(make));
  }

  get inFeatures(): number {
    return (1 + this.adapters) * this.hidden;
  }

  /**
   * Logits [rows.length, vocab] of the flat rows `rows` (of [batch * seq]) of the parts
   * [last, adapter_1, ...] ([batch, seq, H] each): only these rows are gathered and projected.
   */
  logits(parts: readonly Tensor[], rows: ArrayLike<number>): Tensor {
    if (parts.length !== 1 + this.adapters) {
      throw new Error(
        `the MLM layer reads ${1 + this.adapters} feature parts, got ${parts.length}`,
      );
    }
    const [b, s, h] = parts[0].shape;
    const ids = Tensor.from(Int32Array.from(rows), [rows.length], "i32");
    const picked = parts.map((p) => indexSelect(reshape(p, [b * s, h]), 0, ids));
    return this.decoder.forward(picked.length === 1 ? picked[0] : concat(picked, 1));
  }
}

/** What the layer's task reads: the frozen features and the layer. */
export interface ProbeMlm {
  features: AdapterFeatures;
  layer: ProbeMlmLayer;
}

/** Training the layer as a task: masked text; dev masked-token loss and accuracy. */
export function probeMlmTask(
  c: Encoding,
  m: MlmMasking,
  seed: number,
): Task<"text", Example, Examples, ProbeMlm> {
  return maskedLmTask(c, m, seed, {
    name: "mlm-layer",
    logits: (p, b) => p.layer.logits(p.features.features(b.batch), b.rows),
    modules: () => [],
    byLength: false,
    bestMetric: "loss",
    metrics: (lossSum, correct, tokens) => ({
      loss: tokens ? lossSum / tokens : NaN,
      accuracy: tokens ? correct / tokens : NaN,
    }),
  });
}

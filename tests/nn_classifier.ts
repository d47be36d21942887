// A small BERT-style sequence classifier built from the nn modules, for the tests that train a
// whole transformer from scratch: embeddings, encoder, and RoBERTa's classification head on
// the first token (dropout, dense, tanh, dropout, out_proj).
import { DropoutRng, reshape, slice, tanh, type Tensor } from "../src/tensor/mod.ts";
import type { TransformerConfig } from "../src/nn/config.ts";
import { Dropout } from "../src/nn/dropout.ts";
import { Embeddings } from "../src/nn/embeddings.ts";
import { Rng } from "../src/nn/init.ts";
import { Linear } from "../src/nn/linear.ts";
import { Module } from "../src/nn/module.ts";
import { Encoder } from "../src/nn/transformer.ts";

export interface ClassifierConfig extends TransformerConfig {
  vocab: number;
  maxPositions: number;
  layers: number;
  labels: number;
}

/** `classifier`: the head over the first token's hidden state. */
class Head extends Module {
  readonly dense: Linear;
  readonly out_proj: Linear;
  readonly dropout: Dropout;

  constructor(cfg: ClassifierConfig, rng: Rng, drop: DropoutRng) {
    super();
    this.dense = this.child("dense", new Linear(cfg.hidden, cfg.hidden, rng, cfg.initRange));
    this.out_proj = this.child("out_proj", new Linear(cfg.hidden, cfg.labels, rng, cfg.initRange));
    this.dropout = this.child("dropout", new Dropout(cfg.hiddenDropout, drop));
  }

  forward(first: Tensor): Tensor {
    const h = tanh(this.dense.forward(this.dropout.forward(first)));
    return this.out_proj.forward(this.dropout.forward(h));
  }
}

export class SequenceClassifier extends Module {
  readonly embeddings: Embeddings;
  readonly encoder: Encoder;
  readonly classifier: Head;
  /** The stream every dropout mask of this model comes from. */
  readonly dropoutRng: DropoutRng;

  /** Weights from `seed`; dropout masks from a stream derived from it. */
  constructor(readonly cfg: ClassifierConfig, seed: number) {
    super();
    const rng = new Rng(seed);
    this.dropoutRng = new DropoutRng(rng.fork());
    const drop = this.dropoutRng;
    this.embeddings = this.child(
      "embeddings",
      new Embeddings(cfg, cfg.vocab, cfg.maxPositions, rng, drop),
    );
    this.encoder = this.child("encoder", new Encoder(cfg, cfg.layers, rng, drop));
    this.classifier = this.child("classifier", new Head(cfg, rng, drop));
  }

  /** ids i32 [batch, seq], mask additive [batch, 1, 1, seq] -> logits [batch, labels]. */
  forward(ids: Tensor, mask: Tensor | null): Tensor {
    const h = this.encoder.forward(this.embeddings.forward(ids), mask);
    const first = reshape(slice(h, 1, 0, 1), [h.shape[0], h.shape[2]]);
    return this.classifier.forward(first);
  }
}

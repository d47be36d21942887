// `embeddings`: word + learned absolute position embeddings, LayerNorm, dropout.
import { add, type DropoutRng, Tensor } from "../tensor/mod.ts";
import type { TransformerConfig } from "./config.ts";
import { Dropout } from "./dropout.ts";
import { Embedding } from "./embedding.ts";
import type { Rng } from "./init.ts";
import { LayerNorm } from "./layernorm.ts";
import { Module } from "./module.ts";

export class Embeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(
    cfg: TransformerConfig,
    vocab: number,
    maxPositions: number,
    rng: Rng,
    drop: DropoutRng,
  ) {
    super();
    const h = cfg.hidden, std = cfg.initRange;
    this.word_embeddings = this.child("word_embeddings", new Embedding(vocab, h, rng, std));
    this.position_embeddings = this.child(
      "position_embeddings",
      new Embedding(maxPositions, h, rng, std),
    );
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(h, cfg.layerNormEps));
    this.dropout = this.child("dropout", new Dropout(cfg.hiddenDropout, drop));
  }

  /** ids: i32 [batch, seq] uploaded from the CPU -> [batch, seq, hidden]. */
  forward(ids: Tensor): Tensor {
    const seq = ids.shape[1];
    if (seq > this.position_embeddings.count) {
      throw new Error(`sequence of ${seq} exceeds ${this.position_embeddings.count} positions`);
    }
    const pos = Tensor.from(Int32Array.from({ length: seq }, (_, i) => i), [seq], "i32");
    const x = add(this.word_embeddings.forward(ids), this.position_embeddings.forward(pos));
    return this.dropout.forward(this.LayerNorm.forward(x));
  }
}

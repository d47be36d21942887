// `embeddings`: word + learned absolute position (+ token type 0, when the model has token
// types) embeddings, LayerNorm, dropout.
import { add, type DropoutRng, slice, Tensor } from "../tensor/mod.ts";
import type { TransformerConfig } from "./config.ts";
import { Dropout } from "./dropout.ts";
import { Embedding } from "./embedding.ts";
import type { Rng } from "./init.ts";
import { LayerNorm } from "./layernorm.ts";
import { Module } from "./module.ts";

export class Embeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding | null;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  /**
   * `typeVocab` > 0 adds `token_type_embeddings` (BERT and RoBERTa checkpoints have it);
   * `wordRows` sets the rows per piece of the word table (default: one storage binding's).
   */
  constructor(
    cfg: TransformerConfig,
    vocab: number,
    maxPositions: number,
    rng: Rng,
    drop: DropoutRng,
    typeVocab = 0,
    wordRows?: number,
  ) {
    super();
    const h = cfg.hidden, std = cfg.initRange;
    this.word_embeddings = this.child(
      "word_embeddings",
      new Embedding(vocab, h, rng, std, wordRows),
    );
    this.position_embeddings = this.child(
      "position_embeddings",
      new Embedding(maxPositions, h, rng, std),
    );
    this.token_type_embeddings = typeVocab > 0
      ? this.child("token_type_embeddings", new Embedding(typeVocab, h, rng, std))
      : null;
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(h, cfg.layerNormEps));
    this.dropout = this.child("dropout", new Dropout(cfg.hiddenDropout, drop));
  }

  /**
   * ids: i32 [batch, seq] uploaded from the CPU -> [batch, seq, hidden]. `positions` (i32
   * [batch, seq], uploaded from the CPU) default to 0 .. seq-1; token types are all 0.
   */
  forward(ids: Tensor, positions?: Tensor): Tensor {
    const seq = ids.shape[1];
    if (!positions && seq > this.position_embeddings.count) {
      throw new Error(`sequence of ${seq} exceeds ${this.position_embeddings.count} positions`);
    }
    const pos = positions ??
      Tensor.from(Int32Array.from({ length: seq }, (_, i) => i), [seq], "i32");
    let x = this.word_embeddings.forward(ids);
    // Added in transformers' order: (words + token types) + positions.
    const types = this.token_type_embeddings;
    if (types) x = add(x, slice(types.weight, 0, 0, 1));
    x = add(x, this.position_embeddings.forward(pos));
    return this.dropout.forward(this.LayerNorm.forward(x));
  }
}

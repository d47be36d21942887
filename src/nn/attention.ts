// BERT/RoBERTa multi-head self-attention: `attention.self` (query/key/value) and
// `attention.output` (dense, dropout, residual, LayerNorm), with HF parameter names.
import { attention, type DropoutRng, type Tensor } from "../tensor/mod.ts";
import type { TransformerConfig } from "./config.ts";
import { Dropout } from "./dropout.ts";
import type { Rng } from "./init.ts";
import { Linear } from "./linear.ts";
import { Module } from "./module.ts";
import { ResidualOutput } from "./output.ts";

/** Added to the scores of padded keys: large enough that softmax gives them exactly 0. */
export const MASK_VALUE = -1e9;

/**
 * The additive attention mask [batch, 1, 1, seq] from a 0/1 keep-mask [batch, seq]
 * (HF's attention_mask: 1 = real token, 0 = padding).
 */
export function additiveMask(keep: ArrayLike<number>, batch: number, seq: number): Float32Array {
  if (keep.length !== batch * seq) {
    throw new Error(`attention mask has ${keep.length} values, expected ${batch}x${seq}`);
  }
  return Float32Array.from(keep, (k) => (k ? 0 : MASK_VALUE));
}

/** Q, K, V projections and scaled dot-product attention over heads. */
export class SelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropout: Dropout;
  readonly heads: number;

  constructor(cfg: TransformerConfig, rng: Rng, drop: DropoutRng) {
    super();
    if (cfg.hidden % cfg.heads !== 0) {
      throw new Error(`hidden size ${cfg.hidden} is not a multiple of ${cfg.heads} heads`);
    }
    this.heads = cfg.heads;
    this.query = this.child("query", new Linear(cfg.hidden, cfg.hidden, rng, cfg.initRange));
    this.key = this.child("key", new Linear(cfg.hidden, cfg.hidden, rng, cfg.initRange));
    this.value = this.child("value", new Linear(cfg.hidden, cfg.hidden, rng, cfg.initRange));
    this.dropout = this.child("dropout", new Dropout(cfg.attentionDropout, drop));
  }

  /** x [batch, seq, hidden], mask [batch, 1, 1, seq] additive (or null) -> context. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const d = this.dropout;
    const drop = d.training && d.p > 0 ? { p: d.p, rng: d.rng } : null;
    const q = this.query.forward(x), k = this.key.forward(x), v = this.value.forward(x);
    return attention(q, k, v, this.heads, 1 / Math.sqrt(x.shape[2] / this.heads), mask, drop);
  }
}

/** `attention`: self-attention followed by its output block (post-LN). */
export class Attention extends Module {
  readonly self: SelfAttention;
  readonly output: ResidualOutput;

  constructor(cfg: TransformerConfig, rng: Rng, drop: DropoutRng) {
    super();
    this.self = this.child("self", new SelfAttention(cfg, rng, drop));
    this.output = this.child("output", new ResidualOutput(cfg, rng, drop));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    return this.output.forward(this.self.forward(x, mask), x);
  }
}

// RoBERTa's masked-LM head (`lm_head`): dense -> exact GELU -> LayerNorm -> decoder, where the
// decoder's weight is the word-embedding table (tied, as in every RoBERTa checkpoint) and its
// bias is `lm_head.bias`.
import { concat, gelu, layerNorm, linear, slice, type Tensor } from "../tensor/mod.ts";
import { constant, type Rng } from "../nn/init.ts";
import { LayerNorm } from "../nn/layernorm.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";

/** The head's weights, wherever they live (trainable module or frozen weights). */
export interface MlmWeights {
  denseWeight: Tensor;
  denseBias: Tensor;
  normWeight: Tensor;
  normBias: Tensor;
  /** The word embeddings [vocab, hidden], whole or in pieces of consecutive rows. */
  decoder: readonly Tensor[];
  bias: Tensor;
}

/** h [..., hidden] -> logits [..., vocab]; the one computation both model paths use. */
export function mlmLogits(h: Tensor, w: MlmWeights, eps: number): Tensor {
  const x = layerNorm(gelu(linear(h, w.denseWeight, w.denseBias)), w.normWeight, w.normBias, eps);
  if (w.decoder.length === 1) return linear(x, w.decoder[0], w.bias);
  let row = 0;
  return concat(
    w.decoder.map((piece) => linear(x, piece, slice(w.bias, 0, row, row += piece.shape[0]))),
    -1,
  );
}

export class MlmHead extends Module {
  readonly dense: Linear;
  readonly layer_norm: LayerNorm;
  readonly bias: Tensor;

  constructor(hidden: number, vocab: number, eps: number, rng: Rng, std: number) {
    super();
    this.dense = this.child("dense", new Linear(hidden, hidden, rng, std));
    this.layer_norm = this.child("layer_norm", new LayerNorm(hidden, eps));
    this.bias = this.param("bias", constant([vocab], 0));
  }

  /** Logits over the vocabulary, decoding with the (tied) word embeddings, whole or in pieces. */
  forward(h: Tensor, wordEmbeddings: readonly Tensor[]): Tensor {
    return mlmLogits(h, {
      denseWeight: this.dense.weight,
      denseBias: this.dense.bias,
      normWeight: this.layer_norm.weight,
      normBias: this.layer_norm.bias,
      decoder: wordEmbeddings,
      bias: this.bias,
    }, this.layer_norm.eps);
  }
}

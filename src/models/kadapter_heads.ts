// The knowledge-infusion pretraining heads of the released code (reference section 4): fac
// (relation classification from the entity markers) and lin (dependency head position per
// token). Both combine the encoder's last hidden state with the adapter's output through
// com_dense and are initialised as PyTorch's defaults (the code's heads are plain Linears).
import { concat, crossEntropy, DropoutRng, indexSelect, reshape, Tensor } from "../tensor/mod.ts";
import { Attention } from "../nn/attention.ts";
import { Dropout } from "../nn/dropout.ts";
import { Rng, withoutInit } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { torchDefaults } from "./adapter_layer.ts";

export interface HeadConfig {
  /** The encoder's hidden size H. */
  hidden: number;
  /** fac: the number of relations; lin: max_seq_length (positions a head can point to). */
  labels: number;
  /** hidden_dropout_prob (0.1 in the code). */
  dropout: number;
  layerNormEps: number;
}

/** A head's parameter RNG and its dropout stream, both from one seed. */
function seeded(seed: number): { rng: Rng; drop: DropoutRng } {
  const rng = new Rng(seed);
  return { rng, drop: new DropoutRng(rng.fork()) };
}

/** `com_dense`, `dense`, `out_proj`: logits over relations from the first `@` and `#`. */
export class FacHead extends Module {
  readonly com_dense: Linear;
  readonly dense: Linear;
  readonly out_proj: Linear;
  readonly dropout: Dropout;
  readonly dropoutRng: DropoutRng;

  constructor(readonly config: HeadConfig, seed: number) {
    super();
    const { rng, drop } = seeded(seed), h = config.hidden;
    this.dropoutRng = drop;
    [this.com_dense, this.dense, this.out_proj] = withoutInit(() => [
      this.child("com_dense", new Linear(2 * h, h, rng)),
      this.child("dense", new Linear(2 * h, h, rng)),
      this.child("out_proj", new Linear(h, config.labels, rng)),
    ]);
    this.dropout = this.child("dropout", new Dropout(config.dropout, drop));
    torchDefaults(this, rng);
  }

  /**
   * last, adapter [batch, seq, H]; subj[b], obj[b] = positions of example b's first `@` and
   * first `#`. com_dense acts per token, so it runs on the two gathered rows only.
   * Returns logits [batch, labels].
   */
  forward(last: Tensor, adapter: Tensor, subj: ArrayLike<number>, obj: ArrayLike<number>) {
    const [b, s, h] = last.shape;
    if (subj.length !== b || obj.length !== b) {
      throw new Error(
        `fac head: ${subj.length} subject and ${obj.length} object positions for ${b} examples`,
      );
    }
    const rows = new Int32Array(2 * b);
    for (let i = 0; i < b; i++) {
      for (const [k, p] of [[0, subj[i]], [1, obj[i]]]) {
        if (!Number.isInteger(p) || p < 0 || p >= s) {
          throw new Error(
            `fac head: marker position ${p} of example ${i} is outside 0 .. ${s - 1}`,
          );
        }
        rows[2 * i + k] = i * s + p;
      }
    }
    const ids = Tensor.from(rows, [2 * b], "i32");
    const pick = (x: Tensor) => indexSelect(reshape(x, [b * s, h]), 0, ids);
    // [2b, H] rows (subj_0, obj_0, subj_1, ...) viewed as [b, 2H] = cat(subj, obj).
    const com = this.com_dense.forward(concat([pick(last), pick(adapter)], 1));
    return this.out_proj.forward(
      this.dropout.forward(this.dense.forward(reshape(com, [b, 2 * h]))),
    );
  }
}

/**
 * `com_dense`, `self_attention` (the code's 1-head BertAttention: self-attention, output
 * dense, dropout, residual, LayerNorm; padded keys masked as in the code), `dense`,
 * `out_proj`: per token, logits over the positions of its head.
 */
export class LinHead extends Module {
  readonly com_dense: Linear;
  readonly self_attention: Attention;
  readonly dense: Linear;
  readonly out_proj: Linear;
  readonly dropout: Dropout;
  readonly dropoutRng: DropoutRng;

  constructor(readonly config: HeadConfig, seed: number) {
    super();
    const { rng, drop } = seeded(seed), h = config.hidden, p = config.dropout;
    this.dropoutRng = drop;
    // initRange is unused: torchDefaults below replaces BERT's init.
    const att = {
      hidden: h,
      heads: 1,
      intermediate: 0,
      hiddenDropout: p,
      attentionDropout: p,
      layerNormEps: config.layerNormEps,
      initRange: 0,
    };
    [this.com_dense, this.self_attention, this.dense, this.out_proj] = withoutInit(() =>
      [
        this.child("com_dense", new Linear(2 * h, h, rng)),
        this.child("self_attention", new Attention(att, rng, drop)),
        this.child("dense", new Linear(h, h, rng)),
        this.child("out_proj", new Linear(h, config.labels, rng)),
      ] as const
    );
    this.dropout = this.child("dropout", new Dropout(p, drop));
    torchDefaults(this, rng);
  }

  /** last, adapter [batch, seq, H]; mask [batch, 1, 1, seq] additive -> [batch, seq, labels]. */
  forward(last: Tensor, adapter: Tensor, mask: Tensor | null): Tensor {
    const com = this.com_dense.forward(concat([last, adapter], 2));
    const ctx = this.self_attention.forward(com, mask);
    return this.out_proj.forward(this.dropout.forward(this.dense.forward(ctx)));
  }
}

/** Mean cross-entropy of fac logits [batch, relations] against relation ids. */
export function facLoss(logits: Tensor, labels: ArrayLike<number>): Tensor {
  return crossEntropy(logits, Tensor.from(labels, [labels.length], "i32"));
}

/**
 * Mean cross-entropy of lin logits [batch, seq, maxLen] over the labelled tokens: labels
 * [batch * seq] hold head positions, -100 where a token is not scored (padding, non-first
 * subwords).
 */
export function linLoss(logits: Tensor, labels: ArrayLike<number>): Tensor {
  const [b, s, n] = logits.shape;
  return crossEntropy(reshape(logits, [b * s, n]), Tensor.from(labels, [b * s], "i32"), -100);
}

// Downstream classification heads (reference section 5) over the task features [b, s, H]
// that the fusion of encoder and adapters produces. As in the released code, both are
// logits = out_proj(dropout(dense(x))) with no activation: entity typing reads x = the
// features at the mention's first `@` (dense H->H), relation classification reads
// x = cat(features at the first `@`, features at the first `#`) (dense 2H->H). Weights are
// PyTorch's Linear defaults (the code's heads are plain nn.Linear); parameters are named
// `dense.*` and `out_proj.*`.
import {
  bceWithLogits,
  crossEntropy,
  DropoutRng,
  indexSelect,
  reshape,
  Tensor,
} from "../tensor/mod.ts";
import { Dropout } from "../nn/dropout.ts";
import { Rng, withoutInit } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { torchDefaults } from "./adapter_layer.ts";

/** Rows of features [b, s, H] at positions pos[k][i] (k = marker, i = example), as [b, K*H]. */
function gatherMarkers(what: string, features: Tensor, pos: ArrayLike<number>[]): Tensor {
  if (features.rank !== 3) throw new Error(`${what}: features must be [batch, seq, H]`);
  const [b, s, h] = features.shape, k = pos.length;
  const rows = new Int32Array(k * b);
  for (let j = 0; j < k; j++) {
    if (pos[j].length !== b) {
      throw new Error(`${what}: ${pos[j].length} marker positions for ${b} examples`);
    }
    for (let i = 0; i < b; i++) {
      const p = pos[j][i];
      if (!Number.isInteger(p) || p < 0 || p >= s) {
        throw new Error(`${what}: marker position ${p} of example ${i} is outside 0 .. ${s - 1}`);
      }
      // Rows (m0 of example 0, m1 of example 0, m0 of example 1, ...): viewed as [b, K*H]
      // they are cat(m0, m1) per example.
      rows[i * k + j] = i * s + p;
    }
  }
  const picked = indexSelect(reshape(features, [b * s, h]), 0, Tensor.from(rows, [k * b], "i32"));
  return reshape(picked, [b, k * h]);
}

abstract class MarkerHead extends Module {
  readonly dense: Linear;
  readonly out_proj: Linear;
  readonly dropout: Dropout;
  readonly dropoutRng: DropoutRng;

  /** markers: how many marker rows are concatenated into the dense layer's input. */
  constructor(
    readonly hidden: number,
    readonly labels: number,
    dropout: number,
    seed: number,
    markers: number,
  ) {
    super();
    if (!(Number.isInteger(labels) && labels > 0)) throw new Error(`head: ${labels} labels`);
    const rng = new Rng(seed);
    this.dropoutRng = new DropoutRng(rng.fork());
    [this.dense, this.out_proj] = withoutInit(() => [
      this.child("dense", new Linear(markers * hidden, hidden, rng)),
      this.child("out_proj", new Linear(hidden, labels, rng)),
    ]);
    this.dropout = this.child("dropout", new Dropout(dropout, this.dropoutRng));
    torchDefaults(this, rng);
  }

  protected logits(x: Tensor): Tensor {
    return this.out_proj.forward(this.dropout.forward(this.dense.forward(x)));
  }
}

/** Entity typing: logits over the types from the mention's first `@`. */
export class TypingHead extends MarkerHead {
  /** hidden H, types (#labels), dropout (hidden_dropout_prob, 0.1 in the code), seed. */
  constructor(hidden: number, types: number, dropout: number, seed: number) {
    super(hidden, types, dropout, seed, 1);
  }

  /** features [b, s, H]; mention[i] = position of example i's first `@` -> [b, types]. */
  forward(features: Tensor, mention: ArrayLike<number>): Tensor {
    return this.logits(gatherMarkers("typing head", features, [mention]));
  }
}

/** Relation classification: logits over the relations from cat(first `@`, first `#`). */
export class RelationHead extends MarkerHead {
  /** hidden H, labels (#relations, no_relation included), dropout, seed. */
  constructor(hidden: number, labels: number, dropout: number, seed: number) {
    super(hidden, labels, dropout, seed, 2);
  }

  /** features [b, s, H]; subj[i], obj[i] = positions of the first `@` and `#` -> [b, labels]. */
  forward(features: Tensor, subj: ArrayLike<number>, obj: ArrayLike<number>): Tensor {
    return this.logits(gatherMarkers("relation head", features, [subj, obj]));
  }
}

/** Mean BCE-with-logits of typing logits [b, types] against multi-hot targets (row-major). */
export function typingLoss(logits: Tensor, targets: ArrayLike<number>): Tensor {
  return bceWithLogits(logits, Tensor.from(targets, logits.shape));
}

/** Mean cross-entropy of relation logits [b, labels] against label ids. */
export function relationLoss(logits: Tensor, labels: ArrayLike<number>): Tensor {
  return crossEntropy(logits, Tensor.from(labels, [labels.length], "i32"));
}

// Downstream classification heads (reference section 5) over the task features [b, s, H]
// that the fusion of encoder and adapters produces. As in the released code, both are
// logits = out_proj(dropout(dense(x))) with no activation: entity typing reads x = the
// features at the mention's first `@` (dense H->H), relation classification reads
// x = cat(features at the first `@`, features at the first `#`) (dense 2H->H). Weights are
// PyTorch's Linear defaults (the code's heads are plain nn.Linear); parameters are named
// `dense.*` and `out_proj.*`.
import {
  add,
  bceWithLogits,
  crossEntropy,
  DropoutRng,
  indexSelect,
  mulScalar,
  reshape,
  slice,
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

// ---------------------------------------------------------------------------------------------
// Multiple choice (CosmosQA) and span QA (SearchQA, Quasar-T).

/**
 * Multiple choice: each choice is its own sequence `<s> context </s></s> question </s></s>
 * answer </s>`; its score is classifier(dropout(features at position 0)), and the scores of an
 * example's choices form one row of logits. The one parameter is named `classifier.*` as in
 * transformers' RobertaForMultipleChoice (which reads the pooler output, dense + tanh of
 * `<s>`; here, as the reference says, the task features at `<s>` directly). PyTorch Linear
 * defaults.
 */
export class ChoiceHead extends Module {
  readonly classifier: Linear;
  readonly dropout: Dropout;
  readonly dropoutRng: DropoutRng;

  /** hidden H, dropout (hidden_dropout_prob, 0.1 in the code; 0 for none), seed. */
  constructor(readonly hidden: number, dropout: number, seed: number) {
    super();
    const rng = new Rng(seed);
    this.dropoutRng = new DropoutRng(rng.fork());
    this.classifier = withoutInit(() => this.child("classifier", new Linear(hidden, 1, rng)));
    this.dropout = this.child("dropout", new Dropout(dropout, this.dropoutRng));
    torchDefaults(this, rng);
  }

  /**
   * features [b * choices, s, H] (example i's choices in rows i * choices .. + choices - 1)
   * -> scores [b, choices].
   */
  forward(features: Tensor, choices: number): Tensor {
    if (features.rank !== 3) throw new Error("choice head: features must be [batch, seq, H]");
    const n = features.shape[0];
    if (!(Number.isInteger(choices) && choices > 0 && n % choices === 0)) {
      throw new Error(`choice head: ${n} sequences do not split into groups of ${choices}`);
    }
    const first = gatherMarkers("choice head", features, [new Int32Array(n)]);
    const scores = this.classifier.forward(this.dropout.forward(first));
    return reshape(scores, [n / choices, choices]);
  }
}

/** Mean cross-entropy of choice scores [b, choices] against the gold choice indices. */
export function choiceLoss(scores: Tensor, labels: ArrayLike<number>): Tensor {
  return crossEntropy(scores, Tensor.from(labels, [labels.length], "i32"));
}

/**
 * Span QA: start and end logits per token, qa_outputs(features) with qa_outputs = Linear(H->2)
 * (named `qa_outputs.*` as in transformers' RobertaForQuestionAnswering; no dropout there
 * either). PyTorch Linear defaults.
 */
export class SpanHead extends Module {
  readonly qa_outputs: Linear;

  constructor(readonly hidden: number, seed: number) {
    super();
    const rng = new Rng(seed);
    this.qa_outputs = withoutInit(() => this.child("qa_outputs", new Linear(hidden, 2, rng)));
    torchDefaults(this, rng);
  }

  /** features [b, s, H] -> logits [b, s, 2] (start, end), contiguous. */
  forward(features: Tensor): Tensor {
    if (features.rank !== 3) throw new Error("span head: features must be [batch, seq, H]");
    return this.qa_outputs.forward(features);
  }
}

/**
 * Span loss: (CE(start) + CE(end)) / 2 over the sequence positions, as
 * RobertaForQuestionAnswering's total_loss. logits [b, s, 2]; `valid` [b * s] is 1 at
 * positions that can be predicted (real tokens) and 0 at padding, which gets -1e9 added so it
 * takes no probability; starts / ends are target positions per sequence.
 */
export function spanLoss(
  logits: Tensor,
  valid: ArrayLike<number>,
  starts: ArrayLike<number>,
  ends: ArrayLike<number>,
): Tensor {
  if (logits.rank !== 3 || logits.shape[2] !== 2) {
    throw new Error(`span loss: logits must be [batch, seq, 2], got [${logits.shape}]`);
  }
  const [b, s] = logits.shape;
  if (valid.length !== b * s || starts.length !== b || ends.length !== b) {
    throw new Error(
      `span loss: ${valid.length} mask values, ${starts.length} / ${ends.length} ` +
        `targets for [${b}, ${s}]`,
    );
  }
  const bias = Float32Array.from(valid, (v) => v ? 0 : -1e9);
  const mask = Tensor.from(bias, [b, s]);
  const side = (k: number, targets: ArrayLike<number>) => {
    const l = add(reshape(slice(logits, 2, k, k + 1), [b, s]), mask);
    return crossEntropy(l, Tensor.from(targets, [b], "i32"));
  };
  return mulScalar(add(side(0, starts), side(1, ends)), 0.5);
}

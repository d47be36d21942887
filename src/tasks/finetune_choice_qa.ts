// The question-answering tasks of `kadapter finetune` (reference section 5, paper C.2):
//
//   multiple-choice  CosmosQA: each choice is its own sequence, a softmax over an example's
//                    choices; an example (a group of `choices` sequences) is the unit of
//                    batches, training and evaluation alike. Metric: accuracy.
//   span-qa          SearchQA / Quasar-T: a sequence per retrieved paragraph, start / end
//                    logits per token. Training batches are paragraphs (as the released code's;
//                    `trainSize` is the number of paragraph sequences, so --batch counts
//                    paragraphs), evaluation is per question, the best span across its
//                    paragraphs (--eval-batch counts paragraphs). Metrics: exact match and F1.
//                    Training rows are encoded with their answers (the target spans),
//                    evaluation rows without looking at them.
//
// Importing this file registers both with `registerFinetuneTask`.
import { readRows } from "../formats/arrow.ts";
import type { MultipleChoiceRow, SpanQaRow } from "../formats/schemas.ts";
import { ChoiceHead, SpanHead } from "../models/task_heads.ts";
import { Rng } from "../nn/init.ts";
import { DropoutRng } from "../tensor/mod.ts";
import { RunError } from "../train/run.ts";
import { argmax, choiceAccuracy, qaScores } from "./downstream_metrics.ts";
import { type FinetuneTask, registerFinetuneTask } from "./finetune.ts";
import {
  allChoiceScores,
  CHOICE_MAX_LENGTH,
  choiceBatchLoss,
  ChoiceExamples,
  COSMOS_CHOICES,
  encodeChoice,
} from "./multiple_choice.ts";
import {
  encodeSpanQa,
  predictSpanQa,
  SPAN_MAX_LENGTH,
  spanBatchLoss,
  SpanQaExamples,
} from "./span_qa.ts";

/**
 * The choice positions of a multiple-choice split, as labels "0" .. "n-1": n is the number of
 * choices of its first row (rows with another number are skipped when encoded).
 */
export async function choiceLabels(path: string, split?: string): Promise<string[]> {
  for await (const rows of readRows(path, "multiple-choice", split)) {
    if (rows.length > 0) {
      const n = rows[0].choices.length;
      if (n < 2) throw new RunError(`${path}: the first row has ${n} choice(s)`);
      return Array.from({ length: n }, (_, i) => String(i));
    }
  }
  return Array.from({ length: COSMOS_CHOICES }, (_, i) => String(i));
}

/** Multiple choice (CosmosQA): cross-entropy over each example's choices; accuracy. */
export function multipleChoiceTask(): FinetuneTask<"multiple-choice"> {
  return {
    name: "multiple-choice",
    schema: "multiple-choice",
    maxLength: CHOICE_MAX_LENGTH,
    bestMetric: "accuracy",
    labels: (path, split) => choiceLabels(path, split),
    examples: (vocab, labels) => new ChoiceExamples(vocab, labels.length),
    encode: (tok, row: MultipleChoiceRow, labels, maxLength) =>
      encodeChoice(tok, row, maxLength, { choices: labels.size }),
    head: (hidden, _labels, dropout, seed) => new ChoiceHead(hidden, dropout, seed),
    loss: (features, head, ex, indices, padId) =>
      choiceBatchLoss(features, head as ChoiceHead, ex as ChoiceExamples, indices, padId),
    async run(features, head, data, _labels, opts) {
      const ex = data.ex as ChoiceExamples;
      const scores = await allChoiceScores(features, head as ChoiceHead, ex, opts);
      const gold = scores.map((_, g) => ex.label(g));
      return {
        metrics: { accuracy: choiceAccuracy(gold, scores) },
        predictions: scores.map((s, g) => ({
          row: data.rows[g],
          gold: gold[g],
          predicted: argmax(s),
          scores: Array.from(s),
        })),
      };
    },
  };
}

/** SpanHead with the dropout stream a task head carries (unused: the head has no dropout). */
class SpanTaskHead extends SpanHead {
  readonly dropoutRng: DropoutRng;
  constructor(hidden: number, seed: number) {
    super(hidden, seed);
    this.dropoutRng = new DropoutRng(new Rng(seed).fork());
  }
}

/** The two outputs of the span head per token (span QA has no label list). */
export const SPAN_LABELS = ["start", "end"];

/** Span QA (SearchQA, Quasar-T): start / end cross-entropy per paragraph; EM and F1. */
export function spanQaTask(): FinetuneTask<"span-qa"> {
  return {
    name: "span-qa",
    schema: "span-qa",
    maxLength: SPAN_MAX_LENGTH,
    bestMetric: "f1",
    labels: () => Promise.resolve([...SPAN_LABELS]),
    examples: (vocab) => new SpanQaExamples(vocab),
    encode: (tok, row: SpanQaRow, _labels, maxLength, _dropped, opts) =>
      encodeSpanQa(tok, row, maxLength, { train: opts.train }),
    trainSize: (ex) => (ex as SpanQaExamples).seqs.length,
    head: (hidden, _labels, _dropout, seed) => new SpanTaskHead(hidden, seed),
    loss: (features, head, ex, indices, padId) =>
      spanBatchLoss(features, head as SpanTaskHead, ex as SpanQaExamples, indices, padId),
    async run(features, head, data, _labels, opts) {
      const ex = data.ex as SpanQaExamples;
      const pred = await predictSpanQa(features, head as SpanTaskHead, ex, opts);
      const s = qaScores(pred.map((p, g) => ({ pred: p, golds: ex.answers(g) })));
      return {
        metrics: { em: s.em, f1: s.f1 },
        predictions: pred.map((p, g) => ({ row: data.rows[g], gold: ex.answers(g), predicted: p })),
      };
    },
  };
}

registerFinetuneTask("multiple-choice", () => multipleChoiceTask());
registerFinetuneTask("span-qa", () => spanQaTask());

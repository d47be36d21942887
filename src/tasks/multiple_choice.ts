// Multiple choice (reference section 5; CosmosQA): each choice becomes its own sequence,
// `<s> context </s> question </s> answer </s>` as the released script builds it (or, `hf`,
// `<s> context </s></s> question </s></s> answer </s>`), cut to the max length with
// longest_first (BERT's _truncate_seq_pair);
// the head scores each sequence from `<s>` and the example's scores go through a softmax and
// cross-entropy over its choices. Metric: accuracy.
//
// Storage: an example is a *group* of sequences. GroupedExamples keeps every sequence in one
// Examples store (so padBatch works on it), consecutively per group, plus a table of group
// offsets and per-group integer values (here the gold choice). Span QA reuses it (a question's
// paragraphs are its group).
import { readRows } from "../formats/arrow.ts";
import type { MultipleChoiceRow } from "../formats/schemas.ts";
import { DEFAULT_TOKENIZATION, releasedIds, type Tokenization } from "../formats/tokenization.ts";
import { type RobertaTokenizer, truncatedLengths } from "../formats/tokenizer.ts";
import { ChoiceHead, choiceLoss } from "../models/task_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { RunError } from "../train/run.ts";
import { argmax, choiceAccuracy } from "./downstream_metrics.ts";
import { type Example, Examples, padBatch } from "./examples.ts";
import type { FinetuneTask, TaskFeatures } from "./finetune_task.ts";
import { evaluateBatches, type Switchable } from "./task.ts";

/** Max length of the released code for CosmosQA. */
export const CHOICE_MAX_LENGTH = 256;
/** CosmosQA's choices per question. */
export const COSMOS_CHOICES = 4;

/** Skip reason: a row with another number of choices than the store expects. */
export const SKIP_CHOICE_COUNT = "wrong number of choices";

/** An encoded group: its sequences (in order) and per-group integer values. */
export interface Group {
  sequences: Example[];
  values?: Record<string, number>;
}

/** An encoded multiple-choice example: one sequence per choice, values {label}. */
export interface ChoiceGroup extends Group {
  values: { label: number };
}

/**
 * Groups of sequences: all sequences in `seqs` (an Examples store, consecutive per group),
 * group offsets, and per-group integer values.
 */
export class GroupedExamples {
  readonly seqs: Examples;
  #starts: number[] = [0];
  #groupOf: number[] = [];
  readonly #values: Map<string, number[]>;

  /**
   * `vocab` sizes the ids; `tokenColumns` / `valueColumns` are the sequences' (as Examples);
   * `groupColumns` name the integers each group carries.
   */
  constructor(
    vocab: number,
    readonly tokenColumns: string[] = [],
    readonly valueColumns: string[] = [],
    groupColumns: string[] = [],
  ) {
    this.seqs = new Examples(vocab, tokenColumns, valueColumns);
    this.#values = new Map(groupColumns.map((c) => [c, []]));
  }

  /** Number of groups. */
  get length(): number {
    return this.#starts.length - 1;
  }

  /** Adds a group; nothing is stored when it is refused (no sequences, missing value). */
  add(g: Group): void {
    if (g.sequences.length === 0) throw new Error("group has no sequences");
    for (const name of this.#values.keys()) {
      if (!Number.isInteger(g.values?.[name])) throw new Error(`group value ${name} is missing`);
    }
    // Every sequence is checked before any is stored, so a refused group leaves no trace.
    for (const [k, s] of g.sequences.entries()) {
      for (const name of this.tokenColumns) {
        if (s.tokens?.[name]?.length !== s.ids.length) {
          throw new Error(`sequence ${k}: column ${name} needs ${s.ids.length} values`);
        }
      }
      for (const name of this.valueColumns) {
        if (!Number.isInteger(s.values?.[name])) {
          throw new Error(`sequence ${k}: value ${name} is missing`);
        }
      }
    }
    for (const s of g.sequences) this.seqs.add(s);
    const g0 = this.length;
    for (let k = 0; k < g.sequences.length; k++) this.#groupOf.push(g0);
    this.#starts.push(this.seqs.length);
    for (const [name, col] of this.#values) col.push(g.values![name]);
  }

  #check(g: number): void {
    if (!(Number.isInteger(g) && g >= 0 && g < this.length)) {
      throw new Error(`group ${g} of ${this.length}`);
    }
  }

  /** Indices (into `seqs`) of group g's sequences, in order. */
  sequences(g: number): number[] {
    this.#check(g);
    const out: number[] = [];
    for (let i = this.#starts[g]; i < this.#starts[g + 1]; i++) out.push(i);
    return out;
  }

  /** The group of sequence i and its place in that group. */
  groupOf(i: number): { group: number; index: number } {
    const group = this.#groupOf[i];
    if (group === undefined) throw new Error(`sequence ${i} of ${this.seqs.length}`);
    return { group, index: i - this.#starts[group] };
  }

  value(g: number, name: string): number {
    this.#check(g);
    const c = this.#values.get(name);
    if (!c) throw new Error(`groups have no value ${name}`);
    return c[g];
  }

  /** The longest sequence of group g (for ordering evaluation by length). */
  maxLength(g: number): number {
    return Math.max(...this.sequences(g).map((i) => this.seqs.ids(i).length));
  }
}

/** The label of a row without gold (schema: label -1): predicted, never trained on. */
export const NO_ANSWER = -1;
export const SKIP_NO_ANSWER = "no gold answer";

/** Multiple-choice examples: `choices` sequences per group, group value `label`. */
export class ChoiceExamples extends GroupedExamples {
  constructor(vocab: number, readonly choices: number = COSMOS_CHOICES) {
    super(vocab, [], [], ["label"]);
    if (!(Number.isInteger(choices) && choices >= 2)) throw new Error(`${choices} choices`);
  }

  override add(g: Group): void {
    if (g.sequences.length !== this.choices) {
      throw new Error(`${g.sequences.length} choices, the store holds ${this.choices}`);
    }
    // -1: no gold (an evaluation row to predict).
    const label = g.values?.label;
    if (!(Number.isInteger(label) && label! >= NO_ANSWER && label! < this.choices)) {
      throw new Error(`label ${label} is not in -1 .. ${this.choices - 1}`);
    }
    super.add(g);
  }

  label(g: number): number {
    return this.value(g, "label");
  }
}

/** Truncation counts of encodeChoice, so nothing is cut silently. */
export interface ChoiceStats {
  /** Examples with at least one choice sequence cut. */
  truncatedExamples: number;
  /** Choice sequences cut. */
  truncatedSequences: number;
  /** Tokens dropped in all. */
  truncatedTokens: number;
}

export function choiceStats(): ChoiceStats {
  return { truncatedExamples: 0, truncatedSequences: 0, truncatedTokens: 0 };
}

/**
 * The released script's sequence (run_finetune_cosmosqa_adapter.py read_examples_origin and
 * convert_examples_to_features): `<s> context </s> question </s> answer </s>`, the ending
 * `question </s> answer` one segment, each segment tokenized by the released tokenizer
 * (its split at `</s>` gives question and answer a leading space each), the pair cut to
 * maxLength - 3 by longest_first (ties cut the ending).
 */
function releasedChoice(tok: RobertaTokenizer, context: number[], ending: number[], max: number) {
  if (max < 3) throw new Error(`maxLength ${max} leaves no room for the specials`);
  const [c, e] = truncatedLengths([context.length, ending.length], max - 3, "longest_first");
  const ids = [tok.bosId, ...context.slice(0, c), tok.eosId, ...ending.slice(0, e), tok.eosId];
  return { ids, truncated: context.length + ending.length - c - e };
}

/**
 * One sequence per choice, cut to maxLength; values {label}. `original`: the released
 * layout (releasedChoice); `hf`: `<s> context </s></s> question </s></s> answer </s>`,
 * longest_first over the three segments. Truncation is counted in `stats`. A row with
 * another number of choices than `choices` is skipped (SKIP_CHOICE_COUNT).
 */
export function encodeChoice(
  tok: RobertaTokenizer,
  row: MultipleChoiceRow,
  maxLength: number,
  opts: { choices?: number; stats?: ChoiceStats; tokenization?: Tokenization } = {},
): ChoiceGroup | string {
  const n = opts.choices ?? COSMOS_CHOICES;
  if (row.choices.length !== n) return SKIP_CHOICE_COUNT;
  const original = (opts.tokenization ?? DEFAULT_TOKENIZATION) === "original";
  const context = original ? releasedIds(tok, row.context) : [];
  const question = original ? releasedIds(tok, row.question) : [];
  let cut = 0;
  const sequences = row.choices.map((answer) => {
    const e = original
      ? releasedChoice(
        tok,
        context,
        [...question, tok.eosId, ...releasedIds(tok, answer)],
        maxLength,
      )
      : tok.encode([row.context, row.question, answer], { maxLength, truncation: "longest_first" });
    if (e.truncated > 0 && opts.stats) {
      cut++;
      opts.stats.truncatedSequences++;
      opts.stats.truncatedTokens += e.truncated;
    }
    return { ids: e.ids };
  });
  if (cut > 0 && opts.stats) opts.stats.truncatedExamples++;
  return { sequences, values: { label: row.label } };
}

/** Choice scores [indices.length, choices] of the chosen groups. */
export function choiceScores(
  features: TaskFeatures,
  head: ChoiceHead,
  ex: ChoiceExamples,
  indices: number[],
  padId: number,
): Tensor {
  const seqs = indices.flatMap((g) => ex.sequences(g));
  return head.forward(features(padBatch(ex.seqs, seqs, padId)), ex.choices);
}

/** Mean cross-entropy over the choices of a batch of groups (softmax over each's choices). */
export function choiceBatchLoss(
  features: TaskFeatures,
  head: ChoiceHead,
  ex: ChoiceExamples,
  indices: number[],
  padId: number,
): Tensor {
  return choiceLoss(
    choiceScores(features, head, ex, indices, padId),
    indices.map((g) => ex.label(g)),
  );
}

export interface ChoiceEvalOptions {
  /** Groups per batch (each is `choices` sequences). */
  batchSize: number;
  padId: number;
  modules?: Switchable[];
}

/** Every group's choice scores (host), in group order; modules in eval mode meanwhile. */
export async function allChoiceScores(
  features: TaskFeatures,
  head: ChoiceHead,
  ex: ChoiceExamples,
  opts: ChoiceEvalOptions,
): Promise<Float32Array[]> {
  const n = ex.choices, out: Float32Array[] = new Array(ex.length);
  await evaluateBatches(
    ex.length,
    (g) => ex.maxLength(g),
    opts.batchSize,
    [...(opts.modules ?? []), head],
    (indices) => choiceScores(features, head, ex, indices, opts.padId),
    (indices, scores) => {
      indices.forEach((g, r) => out[g] = scores.slice(r * n, (r + 1) * n));
    },
  );
  return out;
}

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

/**
 * Multiple choice (CosmosQA): cross-entropy over each example's choices; accuracy. Rows
 * without gold (label -1) are skipped in training, predicted in evaluation.
 */
export function multipleChoiceTask(): FinetuneTask<
  "multiple-choice",
  ChoiceGroup,
  ChoiceExamples,
  ChoiceHead
> {
  return {
    name: "multiple-choice",
    schema: "multiple-choice",
    maxLength: CHOICE_MAX_LENGTH,
    labels: (path, split) => choiceLabels(path, split),
    head: (hidden, _labels, dropout, seed) => new ChoiceHead(hidden, dropout, seed),
    task: (c, labels) => ({
      name: "multiple-choice",
      schema: "multiple-choice",
      bestMetric: "accuracy",
      store: () => new ChoiceExamples(c.vocab, labels.length),
      encode: (row, ctx) =>
        ctx.train && row.label === NO_ANSWER ? SKIP_NO_ANSWER : encodeChoice(
          c.tok,
          row,
          c.maxLength,
          { choices: labels.length, tokenization: c.tokenization },
        ),
      loss: (m, ex, indices) => choiceBatchLoss(m.features, m.head, ex, indices, c.padId),
      async evaluate(m, { ex, rows }, batchSize) {
        const scores = await allChoiceScores(m.features, m.head, ex, {
          batchSize,
          padId: c.padId,
          modules: m.modules,
        });
        const gold = scores.map((_, g) => ex.label(g));
        // Accuracy over the rows with gold; the others are only predicted.
        const scored = gold.flatMap((l, g) => l === NO_ANSWER ? [] : [g]);
        const accuracy = choiceAccuracy(scored.map((g) => gold[g]), scored.map((g) => scores[g]));
        return {
          metrics: { accuracy },
          predictions: scores.map((s, g) => ({
            row: rows[g],
            gold: gold[g] === NO_ANSWER ? null : gold[g],
            predicted: argmax(s),
            scores: Array.from(s),
          })),
        };
      },
    }),
  };
}

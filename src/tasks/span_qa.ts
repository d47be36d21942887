// Open-domain span QA (reference section 5; SearchQA, Quasar-T): each retrieved paragraph
// becomes its own sequence `<s> question </s></s> paragraph </s>` (the paragraph cut to the
// max length, only_last), a linear head gives start / end logits per token, and the answer is
// the best span across the question's paragraphs. Metrics: SQuAD exact match and F1, max
// over the gold answers.
//
// Training targets (distant supervision, as DrQA / BERT on these datasets): in each paragraph
// the first case-insensitive occurrence of a gold answer on word boundaries (the characters
// just outside it are not letters, digits or `_`; whitespace inside the answer matches any
// run of whitespace) is the target span; the earliest occurrence over all gold answers wins,
// ties to the earlier answer in the list. Its character edges become word edges (wordsFromText
// cuts), so "U.S." inside "U.S.-based" is a span of its own, and the words map to subword
// positions through alignWords. A paragraph without an answer, or whose answer truncation
// cut, targets position 0 (`<s>`) for both start and end ("no answer here"). Such paragraphs
// are kept; questions with no answer in any paragraph are kept too, and counted.
//
// Paragraphs are encoded word by word (alignWords), which equals encoding the text when its
// words are joined by single spaces. At evaluation the prediction is the paragraph text from
// the start of the span's first word to the end of its last word (whole words: a span that
// starts or ends inside a word extends to the word's edges).
import type { SpanQaRow } from "../formats/schemas.ts";
import { DEFAULT_TOKENIZATION, releasedIds, type Tokenization } from "../formats/tokenization.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { alignWords, charSpanToWords, wordsFromText } from "../formats/align.ts";
import { SpanHead, spanLoss } from "../models/task_heads.ts";
import { Rng } from "../nn/init.ts";
import { DropoutRng, type Tensor } from "../tensor/mod.ts";
import { bestAcrossParagraphs, bestSpan, qaScores } from "./downstream_metrics.ts";
import { padBatch } from "./examples.ts";
import type { FinetuneTask, TaskFeatures } from "./finetune_task.ts";
import { evaluateBatches, type Switchable } from "./task.ts";
import { type Group, GroupedExamples } from "./multiple_choice.ts";

/** Max length of the released code for SearchQA / Quasar-T. */
export const SPAN_MAX_LENGTH = 256;
/** Longest answer considered at prediction, in subword tokens (BERT's max_answer_length). */
export const MAX_ANSWER_LENGTH = 30;

/** Skip reason: the question leaves no room for a paragraph token. */
export const SKIP_QUESTION_LONG = "question past max length";
/** A training row without gold answers (schema: answers []); evaluation predicts it. */
export const SKIP_NO_ANSWERS = "no gold answer";

/** Per-token column: the paragraph word of each position, -1 at question and specials. */
export const SPAN_TOKENS = ["word"];
/** Per-sequence values: the target start and end positions (0 = `<s>` = no answer). */
export const SPAN_VALUES = ["start", "end"];

/** What evaluation needs to turn a span back into text. */
export interface ParagraphText {
  text: string;
  /** Per word, its character offsets [start, end) in text. */
  starts: number[];
  ends: number[];
}

/** An encoded question: one sequence per paragraph; the texts and answers for evaluation. */
export interface SpanGroup extends Group {
  answers: string[];
  paragraphs: ParagraphText[];
}

/** Counts of encodeSpanQa, so nothing is cut or dropped silently. */
export interface SpanStats {
  paragraphs: number;
  /** Paragraphs cut to the max length. */
  truncatedParagraphs: number;
  /** Training: paragraphs whose answer occurrence survives and is the target. */
  answered: number;
  /** Training: paragraphs holding an answer that truncation cut (target `<s>` instead). */
  answerCut: number;
  /** Training: questions with no target span in any paragraph. */
  unanswered: number;
}

export function spanStats(): SpanStats {
  return { paragraphs: 0, truncatedParagraphs: 0, answered: 0, answerCut: 0, unanswered: 0 };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The first case-insensitive occurrence of any answer in `text` on word boundaries, as
 * character offsets [start, end); the earliest wins, ties to the earlier answer. null if none.
 */
export function findAnswer(text: string, answers: readonly string[]): [number, number] | null {
  let best: [number, number] | null = null;
  for (const a of answers) {
    const words = a.trim().split(/\s+/).filter((w) => w !== "");
    if (words.length === 0) continue;
    const re = new RegExp(
      `(?<![\\p{L}\\p{N}_])${words.map(escapeRegExp).join("\\s+")}(?![\\p{L}\\p{N}_])`,
      "iu",
    );
    const m = re.exec(text);
    if (m && (best === null || m.index < best[0])) best = [m.index, m.index + m[0].length];
  }
  return best;
}

/**
 * Encodes a question and its paragraphs, one sequence per paragraph:
 * `<s> question </s></s> paragraph </s>` with the paragraph cut to maxLength (only_last).
 * With `train`, each sequence's values {start, end} are its target span (see the file head);
 * without, both are 0 and no answer is searched. Either way the token column `word` maps
 * positions to paragraph words and the group keeps the texts and answers for evaluation.
 * Skipped (SKIP_QUESTION_LONG) when the question leaves no room for a paragraph token.
 * The released code has no script for these tasks: `original` tokenizes as its tokenizer
 * would (the question, and the paragraph's first word, with a leading space); `hf` without.
 */
export function encodeSpanQa(
  tok: RobertaTokenizer,
  row: SpanQaRow,
  maxLength: number,
  opts: { train: boolean; stats?: SpanStats; tokenization?: Tokenization },
): SpanGroup | string {
  const original = (opts.tokenization ?? DEFAULT_TOKENIZATION) === "original";
  const q = original ? releasedIds(tok, row.question) : tok.encodeText(row.question);
  const budget = maxLength - 4 - q.length;
  if (budget < 1) return SKIP_QUESTION_LONG;
  const stats = opts.stats ?? spanStats();
  const offset = q.length + 2; // alignWords position p (p >= 1) -> sequence position p + offset
  const sequences = [], paragraphs: ParagraphText[] = [];
  let answered = 0;
  for (const text of row.paragraphs) {
    stats.paragraphs++;
    const hit = opts.train ? findAnswer(text, row.answers) : null;
    const split = wordsFromText(text, hit ?? []);
    const a = alignWords(tok, split.words.map((w, i) => (i === 0 ? { ...w, space: original } : w)));
    const body = a.ids.slice(1, -1), kept = Math.min(body.length, budget);
    if (kept < body.length) stats.truncatedParagraphs++;
    let start = 0, end = 0;
    if (hit) {
      const [w0, w1] = charSpanToWords(split, hit[0], hit[1]);
      const first = a.wordSpans[w0][0], last = a.wordSpans[w1 - 1][1] - 1; // aligned positions
      if (last <= kept) {
        start = first + offset, end = last + offset;
        answered++, stats.answered++;
      } else stats.answerCut++;
    }
    const ids = [tok.bosId, ...q, tok.eosId, tok.eosId, ...body.slice(0, kept), tok.eosId];
    const word = new Int32Array(ids.length).fill(-1);
    word.set(a.wordIndex.slice(1, 1 + kept), offset + 1);
    sequences.push({ ids, tokens: { word }, values: { start, end } });
    paragraphs.push({ text, starts: split.starts, ends: split.ends });
  }
  if (opts.train && answered === 0) stats.unanswered++;
  return { sequences, answers: [...row.answers], paragraphs };
}

/** Span QA examples: a group per question, a sequence per paragraph, texts kept aside. */
export class SpanQaExamples extends GroupedExamples {
  #info: { answers: string[]; paragraphs: ParagraphText[] }[] = [];

  constructor(vocab: number) {
    super(vocab, SPAN_TOKENS, SPAN_VALUES);
  }

  override add(s: SpanGroup): void {
    if (!Array.isArray(s.answers) || !Array.isArray(s.paragraphs)) {
      throw new Error("span group has no answers or paragraph texts");
    }
    if (s.paragraphs.length !== s.sequences.length) {
      throw new Error(`${s.paragraphs.length} paragraph texts for ${s.sequences.length} sequences`);
    }
    super.add(s);
    this.#info.push({ answers: s.answers, paragraphs: s.paragraphs });
  }

  answers(g: number): string[] {
    this.sequences(g); // range check
    return this.#info[g].answers;
  }

  paragraph(g: number, p: number): ParagraphText {
    const n = this.sequences(g).length;
    if (!(Number.isInteger(p) && p >= 0 && p < n)) throw new Error(`paragraph ${p} of ${n}`);
    return this.#info[g].paragraphs[p];
  }

  /**
   * The text of sequence i's positions [start, end] (inclusive): from its first word's start
   * to its last word's end. Throws when either position is not a paragraph token.
   */
  spanText(i: number, start: number, end: number): string {
    const { group, index } = this.groupOf(i);
    const word = this.seqs.tokens(i, "word");
    const w0 = word[start], w1 = word[end];
    if (!(w0 >= 0 && w1 >= 0 && start <= end)) {
      throw new Error(`span [${start}, ${end}] of sequence ${i} is not inside its paragraph`);
    }
    const p = this.paragraph(group, index);
    return p.text.slice(p.starts[w0], p.ends[w1]);
  }
}

/** Start / end logits [n, s, 2] of the chosen sequences (indices into ex.seqs). */
export function spanLogits(
  features: TaskFeatures,
  head: SpanHead,
  ex: SpanQaExamples,
  seqs: number[],
  padId: number,
): Tensor {
  return head.forward(features(padBatch(ex.seqs, seqs, padId)));
}

/**
 * Mean of the start and end cross-entropies of a batch of sequences (indices into ex.seqs:
 * training batches are paragraphs, as the released code's), over each sequence's positions;
 * padding gets -1e9. Targets are the values {start, end}.
 */
export function spanBatchLoss(
  features: TaskFeatures,
  head: SpanHead,
  ex: SpanQaExamples,
  seqs: number[],
  padId: number,
): Tensor {
  const b = padBatch(ex.seqs, seqs, padId);
  return spanLoss(
    head.forward(features(b)),
    b.attentionMask,
    seqs.map((i) => ex.seqs.value(i, "start")),
    seqs.map((i) => ex.seqs.value(i, "end")),
  );
}

export interface SpanEvalOptions {
  /** Sequences (paragraphs) per batch. */
  batchSize: number;
  padId: number;
  /** Longest span in subword tokens (MAX_ANSWER_LENGTH when absent). */
  maxAnswerLength?: number;
  modules?: Switchable[];
}

/**
 * The predicted answer string per question, in group order: in each paragraph the best span
 * (bestSpan over paragraph tokens only: question, specials and padding excluded; at most
 * maxAnswerLength tokens), then the best across the question's paragraphs (ties to the
 * earlier paragraph), as the text of its words. "" for a question with no paragraph token.
 */
export async function predictSpanQa(
  features: TaskFeatures,
  head: SpanHead,
  ex: SpanQaExamples,
  opts: SpanEvalOptions,
): Promise<string[]> {
  const maxLen = opts.maxAnswerLength ?? MAX_ANSWER_LENGTH;
  const spans: ({ seq: number; start: number; end: number; score: number } | null)[] = new Array(
    ex.seqs.length,
  ).fill(null);
  await evaluateBatches(
    ex.seqs.length,
    (i) => ex.seqs.ids(i).length,
    opts.batchSize,
    [...(opts.modules ?? []), head],
    (seqs) => spanLogits(features, head, ex, seqs, opts.padId),
    (seqs, logits) => {
      const s = logits.length / (2 * seqs.length);
      seqs.forEach((i, r) => {
        const word = ex.seqs.tokens(i, "word"), n = word.length;
        const start = new Float64Array(n), end = new Float64Array(n);
        for (let p = 0; p < n; p++) {
          const at = (r * s + p) * 2;
          start[p] = word[p] >= 0 ? logits[at] : -Infinity;
          end[p] = word[p] >= 0 ? logits[at + 1] : -Infinity;
        }
        const best = bestSpan(start, end, maxLen);
        if (Number.isFinite(best.score)) spans[i] = { seq: i, ...best };
      });
    },
  );
  const out: string[] = [];
  for (let g = 0; g < ex.length; g++) {
    const candidates = ex.sequences(g).flatMap((i) => spans[i] ? [spans[i]!] : []);
    if (candidates.length === 0) out.push("");
    else {
      const best = bestAcrossParagraphs(candidates);
      out.push(ex.spanText(best.seq, best.start, best.end));
    }
  }
  return out;
}

/** SpanHead with the dropout stream a task head carries (unused: the head has no dropout). */
export class SpanTaskHead extends SpanHead {
  readonly dropoutRng: DropoutRng;
  constructor(hidden: number, seed: number) {
    super(hidden, seed);
    this.dropoutRng = new DropoutRng(new Rng(seed).fork());
  }
}

/** The two outputs of the span head per token (span QA has no label list). */
export const SPAN_LABELS = ["start", "end"];

/** Span QA (SearchQA, Quasar-T): start / end cross-entropy per paragraph; EM and F1. */
export function spanQaTask(): FinetuneTask<"span-qa", SpanGroup, SpanQaExamples, SpanTaskHead> {
  return {
    name: "span-qa",
    schema: "span-qa",
    maxLength: SPAN_MAX_LENGTH,
    labels: () => Promise.resolve([...SPAN_LABELS]),
    head: (hidden, _labels, _dropout, seed) => new SpanTaskHead(hidden, seed),
    task: (c) => ({
      name: "span-qa",
      schema: "span-qa",
      bestMetric: "f1",
      store: () => new SpanQaExamples(c.vocab),
      encode: (row, ctx) =>
        ctx.train && row.answers.length === 0
          ? SKIP_NO_ANSWERS
          : encodeSpanQa(c.tok, row, c.maxLength, {
            train: ctx.train,
            tokenization: c.tokenization,
          }),
      trainSize: (ex) => ex.seqs.length,
      loss: (m, ex, indices) => spanBatchLoss(m.features, m.head, ex, indices, c.padId),
      async evaluate(m, { ex, rows }, batchSize) {
        const pred = await predictSpanQa(m.features, m.head, ex, {
          batchSize,
          padId: c.padId,
          modules: m.modules,
        });
        // Scores over the questions with gold answers; the others are only predicted.
        const scored = pred.flatMap((p, g) =>
          ex.answers(g).length ? [{ pred: p, golds: ex.answers(g) }] : []
        );
        const s = qaScores(scored);
        return {
          metrics: { em: s.em, f1: s.f1 },
          predictions: pred.map((p, g) => ({
            row: rows[g],
            gold: ex.answers(g).length ? ex.answers(g) : null,
            predicted: p,
          })),
        };
      },
    }),
  };
}

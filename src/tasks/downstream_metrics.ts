// Evaluation metrics for the downstream tasks (reference section 5): entity typing (strict
// accuracy, loose macro and loose micro P/R/F1), TACRED micro P/R/F1 without `no_relation`,
// multiple-choice accuracy, and span QA exact match / F1 with SQuAD normalization.
import { PY_SPACE } from "../formats/tokenization.ts";

// ---------------------------------------------------------------------------------------------
// Entity typing (OpenEntity, FIGER): multi-label.
// Definitions follow the evaluation the released K-Adapter code uses (`entity_typing_accuracy`
// in its utils, inherited from ERNIE / NFGEC: `accuracy`, `loose_macro`, `loose_micro`, `f1`).

/** One example's gold or predicted types: a set or a list (duplicates count once). */
export type TypeSet<T = number> = ReadonlySet<T> | readonly T[];

export interface PRF {
  p: number;
  r: number;
  f1: number;
}

/**
 * Predicted types for one example from its `numTypes` logits: every index whose logit is
 * > 0 (OpenEntity; the released code's `x1[i] > 0`, i.e. sigmoid > 0.5). With `forceArgmax`
 * (FIGER, as in ERNIE's FIGER evaluation `x1[i] > 0 or x1[i] == max(x1)`) every index whose
 * logit equals the maximum is also included, so at least one type is always predicted even
 * when no logit is positive (all indices tied at the maximum are kept, as that code does).
 * Returns ascending type indices. NaN logits are never selected.
 */
export function typingPredictions(
  logits: ArrayLike<number>,
  numTypes: number,
  opts: { forceArgmax: boolean },
): number[] {
  if (logits.length !== numTypes) {
    throw new Error(`expected ${numTypes} logits but got ${logits.length}`);
  }
  let top = -Infinity;
  if (opts.forceArgmax) { for (let i = 0; i < numTypes; i++) top = Math.max(top, logits[i]); }
  const out: number[] = [];
  for (let i = 0; i < numTypes; i++) {
    const x = logits[i];
    if (x > 0 || (opts.forceArgmax && numTypes > 0 && x === top)) out.push(i);
  }
  return out;
}

/**
 * Strict accuracy: the fraction of examples whose predicted type set equals the gold set
 * exactly (the released code's `cnt += set(pred) == set(gold)` divided by the number of
 * examples). 0 for no examples.
 */
export function strictAccuracy<T>(
  gold: readonly TypeSet<T>[],
  pred: readonly TypeSet<T>[],
): number {
  sameLength(gold.length, pred.length);
  let right = 0;
  for (let i = 0; i < gold.length; i++) {
    const g = new Set(gold[i]), p = new Set(pred[i]);
    if (g.size === p.size && overlap(g, p) === g.size) right++;
  }
  return gold.length === 0 ? 0 : right / gold.length;
}

/**
 * Loose macro P/R/F1, exactly as the original `loose_macro`: with N the number of examples,
 * P = (1/N) * sum over examples with a non-empty prediction of |g ∩ p| / |p|, and
 * R = (1/N) * sum over examples with non-empty gold of |g ∩ p| / |g|. Both divide by all N,
 * so an example with no predicted (or no gold) types contributes 0 to P (or R), not a skip.
 * F1 = 2PR / (P + R) of the averages, 0 when R = 0 (the original `f1`). All 0 for N = 0.
 */
export function looseMacro<T>(gold: readonly TypeSet<T>[], pred: readonly TypeSet<T>[]): PRF {
  sameLength(gold.length, pred.length);
  let p = 0, r = 0;
  for (let i = 0; i < gold.length; i++) {
    const g = new Set(gold[i]), q = new Set(pred[i]);
    const both = overlap(g, q);
    if (q.size > 0) p += both / q.size;
    if (g.size > 0) r += both / g.size;
  }
  const n = gold.length;
  if (n === 0) return { p: 0, r: 0, f1: 0 };
  return { p: p / n, r: r / n, f1: typingF1(p / n, r / n) };
}

/**
 * Loose micro P/R/F1, exactly as the original `loose_micro`: P = sum |g ∩ p| / sum |p|
 * (0 when nothing is predicted), R = sum |g ∩ p| / sum |g| (0 when there are no gold types;
 * the original divides by zero there), F1 = 2PR / (P + R), 0 when R = 0.
 */
export function looseMicro<T>(gold: readonly TypeSet<T>[], pred: readonly TypeSet<T>[]): PRF {
  sameLength(gold.length, pred.length);
  let nPred = 0, nGold = 0, nBoth = 0;
  for (let i = 0; i < gold.length; i++) {
    const g = new Set(gold[i]), q = new Set(pred[i]);
    nPred += q.size, nGold += g.size, nBoth += overlap(g, q);
  }
  const p = nPred > 0 ? nBoth / nPred : 0;
  const r = nGold > 0 ? nBoth / nGold : 0;
  return { p, r, f1: typingF1(p, r) };
}

/** The original `f1(p, r)`: 0 when r is 0, else the harmonic mean. */
function typingF1(p: number, r: number): number {
  return r === 0 ? 0 : 2 * p * r / (p + r);
}

function overlap<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  let n = 0;
  for (const x of a) if (b.has(x)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Relation classification (TACRED).

export interface TacredScores {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * Micro P/R/F1 of the official TACRED scorer (Zhang et al. 2017, `score` in
 * tacred-relation's utils/scorer.py), with `negative` the no-relation label:
 * correct = #(pred == gold != negative), guessed = #(pred != negative),
 * gold positives = #(gold != negative); P = correct / guessed, R = correct / gold positives,
 * F1 = 2PR / (P + R). Zero denominators follow that scorer exactly: P = 1 when nothing but
 * `negative` is predicted, R = 0 when no gold label is positive, F1 = 0 when P + R = 0.
 * (With nothing guessed, correct = 0, so R = 0 and F1 = 0 whatever P is.)
 */
export function tacredScores(
  gold: readonly string[],
  pred: readonly string[],
  negative = "no_relation",
): TacredScores {
  sameLength(gold.length, pred.length);
  let correct = 0, guessed = 0, positives = 0;
  for (let i = 0; i < gold.length; i++) {
    if (pred[i] !== negative) guessed++;
    if (gold[i] !== negative) positives++;
    if (gold[i] !== negative && pred[i] === gold[i]) correct++;
  }
  const precision = guessed > 0 ? correct / guessed : 1;
  const recall = positives > 0 ? correct / positives : 0;
  const f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
  return { precision, recall, f1 };
}

// ---------------------------------------------------------------------------------------------
// Multiple choice (CosmosQA).

/** Index of the largest score; ties go to the lowest index (as numpy's argmax). */
export function argmax(scores: ArrayLike<number>): number {
  if (scores.length === 0) throw new Error("argmax of no scores");
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

/**
 * Multiple-choice accuracy: the fraction of examples whose argmax choice score (ties to the
 * lowest index) equals the gold choice index. 0 for no examples.
 */
export function choiceAccuracy(
  gold: readonly number[],
  scores: readonly ArrayLike<number>[],
): number {
  sameLength(gold.length, scores.length);
  let right = 0;
  for (let i = 0; i < gold.length; i++) if (argmax(scores[i]) === gold[i]) right++;
  return gold.length === 0 ? 0 : right / gold.length;
}

// ---------------------------------------------------------------------------------------------
// Span QA (SearchQA, Quasar-T): SQuAD v1.1 evaluation (`normalize_answer`, `exact_match_score`,
// `f1_score`, `metric_max_over_ground_truths` of evaluate-v1.1.py).

/** ASCII punctuation: Python's `string.punctuation`, which is what SQuAD removes. */
const PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
/** `\b(a|an|the)\b` with Python's Unicode word characters (letters, numbers, underscore). */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;
/** Python `str.split()` whitespace (not JavaScript's `\s`, which holds U+FEFF too). */
const WHITESPACE = new RegExp(`[${PY_SPACE}]+`, "u");

/**
 * SQuAD v1.1 `normalize_answer`, in its order: lowercase, delete ASCII punctuation, replace
 * the whole words a / an / the by a space, then split on whitespace and rejoin with single
 * spaces (trimmed). "The  Cat!" -> "cat"; "theater" keeps its "the".
 */
export function normalizeAnswer(s: string): string {
  let t = "";
  for (const ch of s.toLowerCase()) if (!PUNCTUATION.has(ch)) t += ch;
  return tokens(t.replace(ARTICLES, " ")).join(" ");
}

function tokens(s: string): string[] {
  return s.split(WHITESPACE).filter((w) => w.length > 0);
}

/**
 * Exact match: 1 when the normalized prediction equals some normalized gold answer, else 0
 * (max over golds; 0 when there are no golds).
 */
export function exactMatch(pred: string, golds: readonly string[]): number {
  const p = normalizeAnswer(pred);
  return golds.some((g) => normalizeAnswer(g) === p) ? 1 : 0;
}

/**
 * Token F1, max over gold answers (0 when there are no golds). Per gold, as SQuAD v1.1's
 * `f1_score`: tokens are the whitespace split of the normalized strings; common = size of the
 * multiset intersection; 0 when common = 0 (so also when either side normalizes to nothing,
 * both empty included: v1.1 semantics, unlike SQuAD 2.0 which gives 1 there); else with
 * P = common / |pred tokens| and R = common / |gold tokens|, F1 = 2PR / (P + R).
 */
export function tokenF1(pred: string, golds: readonly string[]): number {
  const p = tokens(normalizeAnswer(pred));
  let best = 0;
  for (const gold of golds) {
    const g = tokens(normalizeAnswer(gold));
    const counts = new Map<string, number>();
    for (const w of g) counts.set(w, (counts.get(w) ?? 0) + 1);
    let common = 0;
    for (const w of p) {
      const c = counts.get(w) ?? 0;
      if (c > 0) common++, counts.set(w, c - 1);
    }
    if (common === 0) continue;
    const prec = common / p.length, rec = common / g.length;
    best = Math.max(best, 2 * prec * rec / (prec + rec));
  }
  return best;
}

/**
 * Mean exact match and mean token F1 over examples, as fractions in [0, 1] (SQuAD's script
 * reports 100x these). Both 0 for no examples.
 */
export function qaScores(
  examples: readonly { pred: string; golds: readonly string[] }[],
): { em: number; f1: number } {
  if (examples.length === 0) return { em: 0, f1: 0 };
  let em = 0, f1 = 0;
  for (const e of examples) em += exactMatch(e.pred, e.golds), f1 += tokenF1(e.pred, e.golds);
  return { em: em / examples.length, f1: f1 / examples.length };
}

export interface Span {
  start: number;
  end: number;
  score: number;
}

/**
 * Highest-scoring span in one paragraph: over start <= end < start + maxAnswerLength (both
 * inclusive token positions within the logits), score = startLogits[start] + endLogits[end].
 * Ties go to the first in (start, end) order. Callers that must exclude positions (question,
 * special tokens) pass logits of the paragraph tokens only, or -Infinity at those positions.
 */
export function bestSpan(
  startLogits: ArrayLike<number>,
  endLogits: ArrayLike<number>,
  maxAnswerLength: number,
): Span {
  if (startLogits.length !== endLogits.length) {
    throw new Error(`${startLogits.length} start logits but ${endLogits.length} end logits`);
  }
  if (startLogits.length === 0) throw new Error("bestSpan of no positions");
  if (!(maxAnswerLength >= 1)) throw new Error(`maxAnswerLength ${maxAnswerLength} < 1`);
  let best: Span = { start: 0, end: 0, score: -Infinity };
  let found = false;
  for (let s = 0; s < startLogits.length; s++) {
    const last = Math.min(endLogits.length, s + maxAnswerLength);
    for (let e = s; e < last; e++) {
      const score = startLogits[s] + endLogits[e];
      if (!found || score > best.score) best = { start: s, end: e, score }, found = true;
    }
  }
  return best;
}

/**
 * The question's answer across its retrieved paragraphs: the candidate with the highest
 * score, ties to the first given. Throws when there are no candidates.
 */
export function bestAcrossParagraphs<T extends { score: number }>(spans: readonly T[]): T {
  if (spans.length === 0) throw new Error("no candidate spans");
  let best = spans[0];
  for (const s of spans) if (s.score > best.score) best = s;
  return best;
}

function sameLength(a: number, b: number): void {
  if (a !== b) throw new Error(`gold has ${a} labels but prediction has ${b}`);
}

// Evaluation metrics for the pretraining tasks (reference section 4): micro and macro F1 for fac
// relation classification, accuracy, and UAS for lin head prediction.

/** Fraction of positions where `pred` equals `gold`; 0 for no examples. */
export function accuracy<T>(gold: readonly T[], pred: readonly T[]): number {
  sameLength(gold.length, pred.length);
  let right = 0;
  for (let i = 0; i < gold.length; i++) if (gold[i] === pred[i]) right++;
  return gold.length === 0 ? 0 : right / gold.length;
}

export interface F1 {
  /** From true/false positives and negatives summed over labels. */
  micro: number;
  /** Unweighted mean of per-label F1 over the union of gold and predicted labels. */
  macro: number;
  perLabel: Map<string, number>;
}

/**
 * F1 for single-label classification, as sklearn's f1_score with average='micro' / 'macro'
 * and its default labels (every label in gold or predicted) and zero_division=0. Each example
 * has exactly one gold and one predicted label, so micro F1 equals accuracy; a label only
 * ever predicted counts in the macro mean with F1 0, so spurious labels are penalised.
 */
export function f1Scores(gold: readonly string[], pred: readonly string[]): F1 {
  sameLength(gold.length, pred.length);
  const counts = new Map<string, { tp: number; fp: number; fn: number }>();
  const at = (l: string) => {
    let c = counts.get(l);
    if (!c) counts.set(l, c = { tp: 0, fp: 0, fn: 0 });
    return c;
  };
  for (let i = 0; i < gold.length; i++) {
    if (gold[i] === pred[i]) at(gold[i]).tp++;
    else at(gold[i]).fn++, at(pred[i]).fp++;
  }
  const f1 = (tp: number, fp: number, fn: number) => tp === 0 ? 0 : 2 * tp / (2 * tp + fp + fn);
  const perLabel = new Map([...counts].map(([l, c]) => [l, f1(c.tp, c.fp, c.fn)]));
  const sum = { tp: 0, fp: 0, fn: 0 };
  for (const c of counts.values()) sum.tp += c.tp, sum.fp += c.fp, sum.fn += c.fn;
  const values = [...perLabel.values()];
  return {
    micro: f1(sum.tp, sum.fp, sum.fn),
    macro: values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length,
    perLabel,
  };
}

/** Label value that marks a position the loss and metrics ignore (subword tails, padding). */
export const IGNORE = -100;

/**
 * Unlabelled attachment score: the fraction of labelled positions (gold !== IGNORE) whose
 * predicted head equals the gold head; 0 when nothing is labelled.
 */
export function uas(gold: ArrayLike<number>, pred: ArrayLike<number>): number {
  sameLength(gold.length, pred.length);
  let labelled = 0, right = 0;
  for (let i = 0; i < gold.length; i++) {
    if (gold[i] === IGNORE) continue;
    labelled++;
    if (pred[i] === gold[i]) right++;
  }
  return labelled === 0 ? 0 : right / labelled;
}

function sameLength(a: number, b: number): void {
  if (a !== b) throw new Error(`gold has ${a} labels but prediction has ${b}`);
}

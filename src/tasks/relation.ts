// Relation classification (reference section 5; TACRED): `@` around the subject, `#` around
// the object, the head classifies from cat(first `@`, first `#`) with cross-entropy. The
// input is built exactly as fac's (same markers, word spans inclusive as in TACRED), so
// encoding is fac's. Labels are the sorted distinct relations of the training data
// (`no_relation` among them), saved with the head.
import type { RelationRow } from "../formats/schemas.ts";
import { readRows } from "../formats/arrow.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { type RelationHead, relationLoss } from "../models/task_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { tacredScores } from "./downstream_metrics.ts";
import { type Example, type Examples, padBatch } from "./examples.ts";
import { encodeFac, FAC_VALUES, SKIP_MARKER, SKIP_RELATION } from "./fac.ts";
import { argmaxRows, evaluateBatches } from "./infusion.ts";
import type { TaskFeatures } from "./entity_typing.ts";

export { OBJECT_MARKER, SUBJECT_MARKER } from "./fac.ts";
/** Max length of the released code for TACRED. */
export const RELATION_MAX_LENGTH = 184;
/** TACRED's negative label, which its micro P/R/F1 ignores. */
export const NO_RELATION = "no_relation";

/** Reasons a row is skipped: a marker the head reads was cut away; relation not in the map. */
export const SKIP_RELATION_MARKER = SKIP_MARKER;
export const SKIP_UNKNOWN_RELATION = SKIP_RELATION;

/** Value columns of relation examples: marker positions and the relation's class. */
export const RELATION_VALUES = FAC_VALUES;

/** The sorted distinct relations of a relation dataset (one streaming pass). */
export async function relationLabels(path: string, split?: string): Promise<string[]> {
  const seen = new Set<string>();
  for await (const rows of readRows(path, "relation", split)) {
    for (const r of rows) seen.add(r.relation);
  }
  return [...seen].sort();
}

/**
 * `<s> ... @ subject @ ... # object # ... </s>` cut to maxLength, values {subj, obj, label};
 * a reason string when the first `@` or first `#` was cut away or the relation is unknown.
 */
export function encodeRelation(
  tok: RobertaTokenizer,
  row: RelationRow,
  labels: Map<string, number>,
  maxLength: number,
): Example | string {
  return encodeFac(tok, row, labels, maxLength);
}

/** Relation logits [indices.length, labels] of the chosen examples. */
export function relationLogits(
  features: TaskFeatures,
  head: RelationHead,
  ex: Examples,
  indices: number[],
  padId: number,
): Tensor {
  const f = features(padBatch(ex, indices, padId));
  const at = (k: string) => indices.map((i) => ex.value(i, k));
  return head.forward(f, at("subj"), at("obj"));
}

/** Mean cross-entropy of a batch of relation examples. */
export function relationBatchLoss(
  features: TaskFeatures,
  head: RelationHead,
  ex: Examples,
  indices: number[],
  padId: number,
): Tensor {
  return relationLoss(
    relationLogits(features, head, ex, indices, padId),
    indices.map((i) => ex.value(i, "label")),
  );
}

export interface RelationScores {
  /** TACRED micro P/R/F1 ignoring the negative label. */
  precision: number;
  recall: number;
  f1: number;
  /** Plain accuracy over all examples, the negative label included. */
  accuracy: number;
}

/**
 * The official TACRED scores (argmax prediction, `negative` ignored, default `no_relation`)
 * and accuracy of the head on `ex`. `modules` (the feature model) are put in eval mode with
 * the head and back to train mode after.
 */
export async function evaluateRelation(
  features: TaskFeatures,
  head: RelationHead,
  ex: Examples,
  labels: string[],
  opts: {
    batchSize: number;
    padId: number;
    negative?: string;
    modules?: { train(on?: boolean): unknown }[];
  },
): Promise<RelationScores> {
  if (head.labels !== labels.length) {
    throw new Error(`head has ${head.labels} labels, the list ${labels.length}`);
  }
  const gold: string[] = [], pred: string[] = [];
  await evaluateBatches(
    ex.length,
    (i) => ex.ids(i).length,
    opts.batchSize,
    [...(opts.modules ?? []), head],
    (indices) => relationLogits(features, head, ex, indices, opts.padId),
    (indices, logits) => {
      const best = argmaxRows(logits, labels.length);
      indices.forEach((i, r) => {
        gold.push(labels[ex.value(i, "label")]);
        pred.push(labels[best[r]]);
      });
    },
  );
  const s = tacredScores(gold, pred, opts.negative ?? NO_RELATION);
  const right = gold.filter((g, i) => g === pred[i]).length;
  return { ...s, accuracy: gold.length === 0 ? 0 : right / gold.length };
}

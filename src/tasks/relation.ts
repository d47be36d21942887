// Relation classification (reference section 5; TACRED): `@` around the subject, `#` around
// the object, the head classifies from cat(first `@`, first `#`) with cross-entropy. The
// input is built exactly as fac's (same markers, word spans inclusive as in TACRED), so
// encoding is fac's. Labels are the sorted distinct relations of the training data
// (`no_relation` among them), saved with the head.
import type { RelationRow } from "../formats/schemas.ts";
import { readRows } from "../formats/arrow.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { RelationHead, relationLoss } from "../models/task_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { tacredScores } from "./downstream_metrics.ts";
import { type Example, Examples, padBatch } from "./examples.ts";
import { encodeFac, FAC_VALUES, SKIP_MARKER, SKIP_RELATION } from "./fac.ts";
import type { FinetuneTask, TaskFeatures } from "./finetune_task.ts";
import { allLogits, argmaxRows } from "./task.ts";

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

/** Relation classification (TACRED): cross-entropy; micro P/R/F1 without no_relation. */
export function relationTask(): FinetuneTask<"relation", Example, Examples, RelationHead> {
  return {
    name: "relation",
    schema: "relation",
    maxLength: RELATION_MAX_LENGTH,
    labels: (path, split) => relationLabels(path, split),
    head: (hidden, labels, dropout, seed) => new RelationHead(hidden, labels, dropout, seed),
    task: (c, labels) => {
      const index = new Map(labels.map((l, i) => [l, i])), n = labels.length;
      return {
        name: "relation",
        schema: "relation",
        bestMetric: "f1",
        store: () => new Examples(c.vocab, [], RELATION_VALUES),
        encode: (row) => encodeRelation(c.tok, row, index, c.maxLength),
        loss: (m, ex, indices) =>
          relationLoss(
            relationLogits(m.features, m.head, ex, indices, c.padId),
            indices.map((i) => ex.value(i, "label")),
          ),
        async evaluate(m, { ex, rows }, batchSize) {
          if (m.head.labels !== n) {
            throw new Error(`head has ${m.head.labels} labels, the list ${n}`);
          }
          const logits = await allLogits(
            ex.length,
            (i) => ex.ids(i).length,
            n,
            batchSize,
            [...m.modules, m.head],
            (ix) => relationLogits(m.features, m.head, ex, ix, c.padId),
          );
          const gold = logits.map((_, i) => labels[ex.value(i, "label")]);
          const pred = logits.map((l) => labels[argmaxRows(l, n)[0]]);
          const s = tacredScores(gold, pred, NO_RELATION);
          const right = gold.filter((g, i) => g === pred[i]).length;
          return {
            metrics: {
              precision: s.precision,
              recall: s.recall,
              f1: s.f1,
              accuracy: gold.length ? right / gold.length : 0,
            },
            predictions: logits.map((l, i) => ({
              row: rows[i],
              gold: gold[i],
              predicted: pred[i],
              logits: Array.from(l),
            })),
          };
        },
      };
    },
  };
}

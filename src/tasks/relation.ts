// Relation classification (reference section 5; TACRED): `@` around the subject, `#` around
// the object, the head classifies from cat(first `@`, first `#`) with cross-entropy. The
// input is built exactly as fac's (same markers, word spans inclusive as in TACRED), so
// encoding is fac's. Labels are the sorted distinct relations of the training data
// (`no_relation` among them), saved with the head.
import type { RelationRow } from "../formats/schemas.ts";
import { readRows } from "../formats/arrow.ts";
import type { Tokenization } from "../formats/tokenization.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { RelationHead, relationLoss } from "../models/task_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { tacredScores } from "./downstream_metrics.ts";
import { type Example, Examples, padBatch } from "./examples.ts";
import { encodeFac, FAC_VALUES, SKIP_MARKER, SKIP_RELATION } from "./fac.ts";
import type { FinetuneTask, TaskFeatures, TaskSettings } from "./finetune_task.ts";
import { allLogits, argmaxRows, type EncodeContext } from "./task.ts";

export { OBJECT_MARKER, SUBJECT_MARKER } from "./fac.ts";
/** Max length of the released code for TACRED. */
export const RELATION_MAX_LENGTH = 184;
/** TACRED's negative label, which its micro P/R/F1 ignores. */
export const NO_RELATION = "no_relation";

/**
 * Reasons a row is skipped: a marker the head reads was cut away (training rows only); the
 * relation not in the map.
 */
export const SKIP_RELATION_MARKER = SKIP_MARKER;
export const SKIP_UNKNOWN_RELATION = SKIP_RELATION;
/** A row without a gold relation (schema: `relation` ""): predicted, never trained on. */
export const NO_GOLD = "";
export const SKIP_NO_GOLD = "no gold relation";
// The label value of an example without gold.
const ABSENT = -1;

/** How the run summary names evaluation rows kept by encodeCutRelation. */
export const cutNote = (maxLength: number) =>
  `marker past max length, read at position ${(2 * maxLength - 10) % maxLength} as the ` +
  "released code does";
/** A training `no_relation` row past the --max-negatives cap. */
export const SKIP_NEGATIVE = "no_relation past --max-negatives";

/** Value columns of relation examples: marker positions and the relation's class. */
export const RELATION_VALUES = FAC_VALUES;

/** The sorted distinct relations of a relation dataset (one streaming pass). */
export async function relationLabels(path: string, split?: string): Promise<string[]> {
  const seen = new Set<string>();
  for await (const rows of readRows(path, "relation", split)) {
    for (const r of rows) if (r.relation !== NO_GOLD) seen.add(r.relation);
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
  scheme?: Tokenization,
): Example | string {
  return encodeFac(tok, row, labels, maxLength, scheme);
}

/**
 * An evaluation row whose first `@` or `#` was cut away, kept as the released code keeps it
 * (examples/utils_glue.py convert_examples_to_features_tacred, :423-470): the ids cut to
 * maxLength, a marker past the end read at maxLength - 10 (numpy's index: from the end when
 * negative), one at the last position read at `</s>`. So the row stays in the metric.
 */
export function encodeCutRelation(
  tok: RobertaTokenizer,
  row: RelationRow,
  labels: Map<string, number>,
  maxLength: number,
  scheme?: Tokenization,
): Example {
  const full = encodeFac(tok, row, labels, Number.MAX_SAFE_INTEGER, scheme) as Example;
  const ids = [...Array.from(full.ids).slice(0, maxLength - 1), tok.eosId];
  const at = (p: number) => p < maxLength ? p : (2 * maxLength - 10) % maxLength;
  const v = full.values!;
  return { ids, values: { subj: at(v.subj), obj: at(v.obj), label: v.label } };
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

/**
 * Relation classification (TACRED): cross-entropy; micro P/R/F1 without no_relation.
 * `maxNegatives` caps training's no_relation rows (TaskSettings), counted per load. Training
 * skips rows without gold or with an unknown relation; evaluation keeps every row (one without
 * gold is predicted and left out of the metrics, an unknown gold is scored and never right).
 */
export function relationTask(
  { maxNegatives = 0 }: TaskSettings = {},
): FinetuneTask<"relation", Example, Examples, RelationHead> {
  const negatives = new WeakMap<EncodeContext, number>();
  return {
    name: "relation",
    schema: "relation",
    maxLength: RELATION_MAX_LENGTH,
    labels: (path, split) => relationLabels(path, split),
    head: (hidden, labels, dropout, seed) => new RelationHead(hidden, labels, dropout, seed),
    task: (c, labels) => {
      const index = new Map(labels.map((l, i) => [l, i])), n = labels.length;
      // Gold relations of evaluation rows missing from the label list, numbered from n.
      const unseen: string[] = [];
      return {
        name: "relation",
        schema: "relation",
        bestMetric: "f1",
        store: () => new Examples(c.vocab, [], RELATION_VALUES),
        encode(row, ctx) {
          const known = index.get(row.relation);
          if (ctx.train) {
            if (row.relation === NO_GOLD) return SKIP_NO_GOLD;
            if (maxNegatives > 0 && row.relation === NO_RELATION) {
              // The released loader counts down from N, keeping a row while the count is > 0.
              const seen = (negatives.get(ctx) ?? 0) + 1;
              negatives.set(ctx, seen);
              if (seen >= maxNegatives) return SKIP_NEGATIVE;
            }
            return encodeRelation(c.tok, row, index, c.maxLength, c.tokenization);
          }
          // Evaluation and prediction score every row: the layout does not depend on the label.
          const note = (k: string) => ctx.altered.set(k, (ctx.altered.get(k) ?? 0) + 1);
          let label = known ?? ABSENT;
          if (row.relation !== NO_GOLD && known === undefined) {
            note(`gold ${JSON.stringify(row.relation)} not in the model's labels: never predicted`);
            if (!unseen.includes(row.relation)) unseen.push(row.relation);
            label = n + unseen.indexOf(row.relation);
          }
          const any = { ...row, relation: labels[0] };
          let e = encodeRelation(c.tok, any, index, c.maxLength, c.tokenization);
          if (e === SKIP_RELATION_MARKER) {
            note(cutNote(c.maxLength));
            e = encodeCutRelation(c.tok, any, index, c.maxLength, c.tokenization);
          }
          if (typeof e === "string") throw new Error(`relation row not encoded: ${e}`);
          return { ...e, values: { ...e.values, label } };
        },
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
          const gold = logits.map((_, i) => {
            const k = ex.value(i, "label");
            return k === ABSENT ? null : k < n ? labels[k] : unseen[k - n];
          });
          const pred = logits.map((l) => labels[argmaxRows(l, n)[0]]);
          // Metrics over the rows with a gold label; the others are only predicted.
          const scored = gold.flatMap((g, i) => g === null ? [] : [i]);
          const s = tacredScores(scored.map((i) => gold[i]!), scored.map((i) => pred[i]));
          const right = scored.filter((i) => gold[i] === pred[i]).length;
          return {
            metrics: {
              precision: s.precision,
              recall: s.recall,
              f1: s.f1,
              accuracy: scored.length ? right / scored.length : 0,
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

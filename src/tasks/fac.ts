// facAdapter pretraining (reference section 4): relation classification on T-REx-rc. The
// subject is wrapped in `@`, the object in `#`; the head classifies from the first marker of
// each. Relations are numbered by sorted id over the training data; that list is saved with
// the head, so a prediction maps back to its Wikidata id.
import type { TrexRow } from "../formats/schemas.ts";
import { readRows } from "../formats/arrow.ts";
import { alignWords } from "../formats/align.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { type FacHead, facLoss } from "../models/kadapter_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { f1Scores } from "./metrics.ts";
import { type Example, type Examples, padBatch } from "./examples.ts";
import { argmaxRows, evaluateBatches, type InfusionModel } from "./infusion.ts";

export const SUBJECT_MARKER = "@";
export const OBJECT_MARKER = "#";

export const SKIP_MARKER = "entity past max length";
export const SKIP_RELATION = "relation not in the training set";

/** Value columns of fac examples: marker positions and the relation's class. */
export const FAC_VALUES = ["subj", "obj", "label"];

/** The sorted distinct relations of a T-REx-rc dataset (one streaming pass). */
export async function relationSet(path: string, split?: string): Promise<string[]> {
  const seen = new Set<string>();
  for await (const rows of readRows(path, "trex-rc", split)) {
    for (const r of rows) seen.add(r.relation);
  }
  return [...seen].sort();
}

/**
 * `<s> ... @ subject @ ... # object # ... </s>` cut to maxLength; a reason string when a
 * marker the head reads was cut away or the relation is unknown.
 */
export function encodeFac(
  tok: RobertaTokenizer,
  row: TrexRow,
  labels: Map<string, number>,
  maxLength: number,
): Example | string {
  const label = labels.get(row.relation);
  if (label === undefined) return SKIP_RELATION;
  const a = alignWords(tok, row.token, {
    marks: [
      { start: row.subj_start, end: row.subj_end + 1, marker: SUBJECT_MARKER },
      { start: row.obj_start, end: row.obj_end + 1, marker: OBJECT_MARKER },
    ],
    maxLength,
  });
  const [subj, obj] = a.markPositions.map((p) => p[0]);
  if (subj < 0 || obj < 0) return SKIP_MARKER;
  return { ids: a.ids, values: { subj, obj, label } };
}

/** Mean cross-entropy of a batch of fac examples. */
export function facBatchLoss(
  model: InfusionModel,
  head: FacHead,
  ex: Examples,
  indices: number[],
  padId: number,
): Tensor {
  return facLoss(
    facLogits(model, head, ex, indices, padId),
    indices.map((i) => ex.value(i, "label")),
  );
}

function facLogits(
  model: InfusionModel,
  head: FacHead,
  ex: Examples,
  indices: number[],
  padId: number,
): Tensor {
  const f = model.features(padBatch(ex, indices, padId));
  const at = (k: string) => indices.map((i) => ex.value(i, k));
  return head.forward(f.last, f.adapter, at("subj"), at("obj"));
}

/** Micro and macro F1 (sklearn's definitions) of the head's predictions on `ex`. */
export async function evaluateFac(
  model: InfusionModel,
  head: FacHead,
  ex: Examples,
  labels: string[],
  opts: { batchSize: number; padId: number },
): Promise<{ micro_f1: number; macro_f1: number }> {
  const gold: string[] = [], pred: string[] = [];
  await evaluateBatches(
    ex.length,
    (i) => ex.ids(i).length,
    opts.batchSize,
    [model.adapter, head],
    (indices) => facLogits(model, head, ex, indices, opts.padId),
    (indices, logits) => {
      const best = argmaxRows(logits, labels.length);
      indices.forEach((i, r) => {
        gold.push(labels[ex.value(i, "label")]);
        pred.push(labels[best[r]]);
      });
    },
  );
  const f1 = f1Scores(gold, pred);
  return { micro_f1: f1.micro, macro_f1: f1.macro };
}

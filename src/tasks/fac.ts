// facAdapter pretraining (reference section 4): relation classification on T-REx-rc. The
// subject is wrapped in `@`, the object in `#`; the head classifies from the first marker of
// each. Relations are numbered by sorted id over the training data; that list is saved with
// the head, so a prediction maps back to its Wikidata id.
import type { TrexRow } from "../formats/schemas.ts";
import { readRows } from "../formats/arrow.ts";
import { alignParts, alignWords } from "../formats/align.ts";
import { DEFAULT_TOKENIZATION, releasedIds, type Tokenization } from "../formats/tokenization.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { type FacHead, facLoss } from "../models/kadapter_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { f1Scores } from "./metrics.ts";
import { type Example, Examples, padBatch } from "./examples.ts";
import type { Infused } from "./infusion.ts";
import { allLogits, argmaxRows, type Encoding, type Task } from "./task.ts";

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
 * The released code's marker positions (utils_glue.py convert_examples_to_features_trex, and
 * TACRED's the same): the words between the markers joined by spaces into segments, each
 * tokenized as the released tokenizer does (a leading space), the markers bare `@` / `#`
 * tokens; the entity that starts first is marked first. Cut to maxLength from the end.
 */
function releasedFac(tok: RobertaTokenizer, row: TrexRow, maxLength: number) {
  const w = row.token;
  const span = (s: number, e: number) => ({ text: w.slice(s, e).join(" ") });
  const marker = (m: string) => ({ marker: [tok.tokenToId(m) ?? tok.unkId] });
  const subj = { start: row.subj_start, end: row.subj_end + 1, m: marker(SUBJECT_MARKER) };
  const obj = { start: row.obj_start, end: row.obj_end + 1, m: marker(OBJECT_MARKER) };
  const [a, b] = row.subj_start < row.obj_start ? [subj, obj] : [obj, subj];
  const parts = [span(0, a.start), a.m, span(a.start, a.end), a.m, span(a.end, b.start)];
  parts.push(b.m, span(b.start, b.end), b.m, span(b.end, w.length));
  const r = alignParts(tok, parts, (t) => releasedIds(tok, t), maxLength);
  const at = (x: typeof subj) => r.markers[x === a ? 0 : 2];
  return { ids: r.ids, subj: at(subj), obj: at(obj) };
}

/**
 * `<s> ... @ subject @ ... # object # ... </s>` cut to maxLength, tokenized by `scheme`; a
 * reason string when a marker the head reads was cut away or the relation is unknown.
 */
export function encodeFac(
  tok: RobertaTokenizer,
  row: TrexRow,
  labels: Map<string, number>,
  maxLength: number,
  scheme: Tokenization = DEFAULT_TOKENIZATION,
): Example | string {
  const label = labels.get(row.relation);
  if (label === undefined) return SKIP_RELATION;
  if (scheme === "original") {
    const { ids, subj, obj } = releasedFac(tok, row, maxLength);
    if (subj < 0 || obj < 0) return SKIP_MARKER;
    return { ids, values: { subj, obj, label } };
  }
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

function facLogits(m: Infused<FacHead>, ex: Examples, indices: number[], padId: number): Tensor {
  const f = m.model.features(padBatch(ex, indices, padId), ex);
  const at = (k: string) => indices.map((i) => ex.value(i, k));
  return m.head.forward(f.last, f.adapter, at("subj"), at("obj"));
}

/**
 * facAdapter's task over `labels` (the training set's sorted relations): mean cross-entropy;
 * micro and macro F1 (sklearn's definitions) on dev.
 */
export function facTask(
  c: Encoding,
  labels: readonly string[],
): Task<"trex-rc", Example, Examples, Infused<FacHead>> {
  const index = new Map(labels.map((l, i) => [l, i]));
  return {
    name: "fac",
    schema: "trex-rc",
    bestMetric: "micro_f1",
    store: () => new Examples(c.vocab, [], FAC_VALUES),
    encode: (row) => encodeFac(c.tok, row, index, c.maxLength, c.tokenization),
    loss: (m, ex, indices) =>
      facLoss(facLogits(m, ex, indices, c.padId), indices.map((i) => ex.value(i, "label"))),
    async evaluate(m, { ex, rows }, batchSize) {
      const gold: string[] = [], pred: string[] = [];
      const logits = await allLogits(
        ex.length,
        (i) => ex.ids(i).length,
        labels.length,
        batchSize,
        [m.model.adapter, m.head],
        (indices) => facLogits(m, ex, indices, c.padId),
      );
      logits.forEach((l, i) => {
        gold.push(labels[ex.value(i, "label")]);
        pred.push(labels[argmaxRows(l, labels.length)[0]]);
      });
      const f1 = f1Scores(gold, pred);
      return {
        metrics: { micro_f1: f1.micro, macro_f1: f1.macro },
        predictions: gold.map((g, i) => ({ row: rows[i], gold: g, predicted: pred[i] })),
      };
    },
  };
}

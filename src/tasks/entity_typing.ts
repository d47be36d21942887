// Entity typing (reference section 5; OpenEntity, FIGER): the mention is wrapped in `@`,
// the head classifies from the first `@`, multi-label with BCE-with-logits. Types are
// numbered by sorted name over the training data; that list is saved with the head.
import type { EntityTypingRow } from "../formats/schemas.ts";
import { readRows } from "../formats/arrow.ts";
import { alignParts, alignText } from "../formats/align.ts";
import { DEFAULT_TOKENIZATION, releasedIds, type Tokenization } from "../formats/tokenization.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { TypingHead, typingLoss } from "../models/task_heads.ts";
import type { Tensor } from "../tensor/mod.ts";
import { looseMacro, looseMicro, strictAccuracy, typingPredictions } from "./downstream_metrics.ts";
import { type Example, Examples, padBatch } from "./examples.ts";
import type { FinetuneTask, TaskFeatures, TaskSettings } from "./finetune_task.ts";
import { allLogits, type EncodeContext } from "./task.ts";

export const MENTION_MARKER = "@";
/** Max length of the released code for OpenEntity and FIGER. */
export const TYPING_MAX_LENGTH = 256;

export const SKIP_MENTION = "mention past max length";
export const SKIP_NO_WORD = "mention covers no word";
export const SKIP_NO_TYPE = "no type in the training set";
/** FIGER (released): a row of max length or more tokens before any cut, in every split. */
export const SKIP_LONG = "max length or more tokens (released FIGER)";

/** Value columns of typing examples: the position of the mention's first `@`. */
export const TYPING_VALUES = ["mention"];

/** An encoded typing example: ids, the `@` position and its type ids (ascending, distinct). */
export interface TypingExample extends Example {
  values: { mention: number };
  labels: number[];
}

/** The sorted distinct types of an entity-typing dataset (one streaming pass). */
export async function typeSet(path: string, split?: string): Promise<string[]> {
  const seen = new Set<string>();
  for await (const rows of readRows(path, "entity-typing", split)) {
    for (const r of rows) for (const l of r.labels) seen.add(l);
  }
  return [...seen].sort();
}

/** Code-point offset -> UTF-16 offset (the schema counts code points, as Python does). */
function utf16Offset(text: string, codePoints: number): number {
  if (!/[\uD800-\uDFFF]/.test(text)) return codePoints;
  let i = 0;
  for (let k = 0; k < codePoints && i < text.length; k++) {
    i += text.codePointAt(i)! > 0xffff ? 2 : 1;
  }
  return i;
}

/**
 * `<s> ... @ mention @ ... </s>` cut to maxLength, the mention's character span [start, end)
 * made into word edges (a mention inside a word is marked exactly). Types missing from
 * `types` are dropped from the example and counted by name in `dropped`; a reason string
 * when the first `@` was cut away, the mention holds only spaces, or no type is left.
 * A closing `@` cut away is kept, as fac does: the head reads the first one only.
 * `original` (the released code: examples/utils_glue.py and utils_figer.py
 * convert_examples_to_features_entity_typing): the text before, inside and after the mention
 * tokenized apart by the released tokenizer (each with a leading space), the marker its
 * tokenization of "@" (`Ġ@`); `hf`: words, the first bare, a bare `@`, a mention inside a
 * word glued to it.
 */
export function encodeTyping(
  tok: RobertaTokenizer,
  row: EntityTypingRow,
  types: Map<string, number>,
  maxLength: number,
  dropped?: Map<string, number>,
  scheme: Tokenization = DEFAULT_TOKENIZATION,
): TypingExample | string {
  const labels = new Set<number>();
  for (const name of row.labels) {
    const id = types.get(name);
    if (id !== undefined) labels.add(id);
    else dropped?.set(name, (dropped.get(name) ?? 0) + 1);
  }
  if (labels.size === 0) return SKIP_NO_TYPE;
  const start = utf16Offset(row.text, row.start), end = utf16Offset(row.text, row.end);
  if (row.text.slice(start, end).trim() === "") return SKIP_NO_WORD;
  let mention: number, ids: number[];
  if (scheme === "original") {
    const t = row.text, at = { marker: releasedIds(tok, MENTION_MARKER) };
    const parts = [{ text: t.slice(0, start) }, at, { text: t.slice(start, end) }, at];
    parts.push({ text: t.slice(end) });
    const r = alignParts(tok, parts, (x) => releasedIds(tok, x), maxLength);
    [ids, mention] = [r.ids, r.markers[0]];
  } else {
    const a = alignText(tok, row.text, [{ start, end, marker: MENTION_MARKER }], { maxLength });
    [ids, mention] = [a.ids, a.markPositions[0][0]];
  }
  if (mention < 0) return SKIP_MENTION;
  return { ids, values: { mention }, labels: [...labels].sort((x, y) => x - y) };
}

/** Examples with each one's type ids kept beside them (flat, with offsets). */
export class TypingExamples extends Examples {
  #flat = new Int32Array(1024);
  #used = 0;
  #offsets: number[] = [0];

  constructor(vocab: number, readonly types: number) {
    super(vocab, [], TYPING_VALUES);
  }

  /**
   * Adds a TypingExample; its labels must be distinct type ids. Evaluation examples may have
   * none (no gold) or ids from `types` on (types the list lacks); targets() refuses those.
   */
  override add(e: TypingExample): void {
    const labels = e.labels;
    if (!Array.isArray(labels)) throw new Error("typing example has no labels");
    const bad = labels.find((l) => !Number.isInteger(l) || l < 0);
    if (bad !== undefined) throw new Error(`type id ${bad} is negative or not an integer`);
    if (new Set(labels).size !== labels.length) throw new Error(`repeated type in ${labels}`);
    super.add(e);
    if (this.#used + labels.length > this.#flat.length) {
      const grown = new Int32Array(Math.max(2 * this.#flat.length, this.#used + labels.length));
      grown.set(this.#flat.subarray(0, this.#used));
      this.#flat = grown;
    }
    this.#flat.set(labels, this.#used);
    this.#used += labels.length;
    this.#offsets.push(this.#used);
  }

  /** Example i's type ids. */
  labels(i: number): Int32Array {
    this.value(i, "mention"); // range check
    return this.#flat.subarray(this.#offsets[i], this.#offsets[i + 1]);
  }

  /** Multi-hot targets [indices.length, types], row-major. */
  targets(indices: number[]): Float32Array {
    const out = new Float32Array(indices.length * this.types);
    indices.forEach((i, r) => {
      const labels = this.labels(i);
      if (labels.length === 0 || labels.some((l) => l >= this.types)) {
        throw new Error(`example ${i} has no gold or a type past ${this.types - 1}`);
      }
      for (const l of labels) out[r * this.types + l] = 1;
    });
    return out;
  }
}

/** Typing logits [indices.length, types] of the chosen examples. */
export function typingLogits(
  features: TaskFeatures,
  head: TypingHead,
  ex: TypingExamples,
  indices: number[],
  padId: number,
): Tensor {
  const f = features(padBatch(ex, indices, padId));
  return head.forward(f, indices.map((i) => ex.value(i, "mention")));
}

/**
 * Entity typing (OpenEntity; FIGER with `figer`): mean BCE-with-logits over all batch x types
 * entries; strict accuracy and loose macro / micro P/R/F1, a type predicted when its logit is
 * > 0 (FIGER also predicts the top type). FIGER leaves out rows of maxLength or more tokens
 * uncut, in every split, as examples/utils_figer.py convert_examples_to_features_entity_typing
 * (:208) does; they are counted.
 */
export function entityTypingTask(
  settings: TaskSettings = {},
): FinetuneTask<"entity-typing", TypingExample, TypingExamples, TypingHead> {
  const forceArgmax = settings.figer ?? false;
  return {
    name: "entity-typing",
    schema: "entity-typing",
    maxLength: TYPING_MAX_LENGTH,
    labels: (path, split) => typeSet(path, split),
    head: (hidden, labels, dropout, seed) => new TypingHead(hidden, labels, dropout, seed),
    task: (c, labels) => {
      const index = new Map(labels.map((l, i) => [l, i])), n = labels.length;
      // An evaluation row's type ids; a type the list lacks is numbered from n (never right).
      const unseen: string[] = [];
      const goldIds = (names: string[], ctx: EncodeContext) =>
        [...new Set(names)].map((name) => {
          const k = index.get(name);
          if (k !== undefined) return k;
          const note = `gold type ${
            JSON.stringify(name)
          } not in the model's labels: never predicted`;
          ctx.altered.set(note, (ctx.altered.get(note) ?? 0) + 1);
          if (!unseen.includes(name)) unseen.push(name);
          return n + unseen.indexOf(name);
        }).sort((x, y) => x - y);
      const name = (k: number) => k < n ? labels[k] : unseen[k - n];
      return {
        name: "entity-typing",
        schema: "entity-typing",
        bestMetric: "micro_f1",
        store: () => new TypingExamples(c.vocab, n),
        encode(row, ctx) {
          // Evaluation and prediction keep rows without gold or with types the model has not
          // seen: the layout does not depend on the types, gold is set after.
          const gold = ctx.train ? null : goldIds(row.labels, ctx);
          const r = gold ? { ...row, labels: [labels[0]] } : row;
          const len = forceArgmax ? Infinity : c.maxLength;
          const e = encodeTyping(c.tok, r, index, len, ctx.dropped, c.tokenization);
          if (typeof e === "string") return e;
          if (forceArgmax && e.ids.length >= c.maxLength) return SKIP_LONG;
          return gold ? { ...e, labels: gold } : e;
        },
        loss: (m, ex, indices) =>
          typingLoss(typingLogits(m.features, m.head, ex, indices, c.padId), ex.targets(indices)),
        async evaluate(m, { ex, rows }, batchSize) {
          if (m.head.labels !== n) throw new Error(`head has ${m.head.labels} types, labels ${n}`);
          const logits = await allLogits(
            ex.length,
            (i) => ex.ids(i).length,
            n,
            batchSize,
            [...m.modules, m.head],
            (ix) => typingLogits(m.features, m.head, ex, ix, c.padId),
          );
          const gold = logits.map((_, i) => [...ex.labels(i)]);
          const pred = logits.map((l) => typingPredictions(l, n, { forceArgmax }));
          // Metrics over the rows with gold types; the others are only predicted.
          const scored = gold.flatMap((g, i) => g.length ? [i] : []);
          const [g, p] = [scored.map((i) => gold[i]), scored.map((i) => pred[i])];
          const macro = looseMacro(g, p), micro = looseMicro(g, p);
          return {
            metrics: {
              strict: strictAccuracy(g, p),
              macro_p: macro.p,
              macro_r: macro.r,
              macro_f1: macro.f1,
              micro_p: micro.p,
              micro_r: micro.r,
              micro_f1: micro.f1,
            },
            predictions: logits.map((l, i) => ({
              row: rows[i],
              gold: gold[i].length ? gold[i].map(name) : null,
              predicted: pred[i].map((k) => labels[k]),
              logits: Array.from(l),
            })),
          };
        },
      };
    },
  };
}

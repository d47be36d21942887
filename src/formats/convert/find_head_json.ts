// The released linguistic (find-head) data, read as the released loader reads it: a JSON
// list (or JSON lines) of records with `sent`, `tokens` (word i, 0-based, is
// `{"<i+1>": {"start", "end"}}`, a character span of `sent`, end exclusive, counted in code
// points as Python slices) and `pairs` (`{"dependent_index", "governor_index"}`, 1-based,
// governor 0 = root). Word i's head is the governor of dependent i+1; a later pair for the
// same dependent replaces an earlier one (the loader builds a dict). The loader silently
// drops a record it cannot read; here each problem names its record and field.
import type { Problem } from "../schemas.ts";
import { type Item, jsonObjects } from "./source.ts";
import { isObject } from "../json.ts";

export async function* findHeadJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const row = record(item.row);
    yield "field" in row ? { at: item.at, problem: row } : { at: item.at, row };
  }
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const wrong = (field: string, v: unknown, expected: string): Problem => ({
  field,
  reason: `${field.replace(/\[\d+\]/g, "[]")} wrong type`,
  detail: `${JSON.stringify(v)?.slice(0, 80)} is not ${expected}`,
});

function record(r: Record<string, unknown>): { tokens: string[]; heads: number[] } | Problem {
  const { sent, tokens: spans, pairs } = r;
  if (typeof sent !== "string") return wrong("sent", sent, "a string");
  if (!Array.isArray(spans)) return wrong("tokens", spans, "a list");
  if (!Array.isArray(pairs)) return wrong("pairs", pairs, "a list");
  // Code points, as Python slices; the spread is only needed past the BMP.
  const chars = /[\uD800-\uDFFF]/.test(sent) ? [...sent] : null;
  const n = chars ? chars.length : sent.length;
  const tokens: string[] = [];
  for (const [i, t] of spans.entries()) {
    const field = `tokens[${i}]`, span = isObject(t) ? t[String(i + 1)] : undefined;
    if (!isObject(span)) return wrong(field, t, `{"${i + 1}": {start, end}}`);
    const { start, end } = span;
    if (!isInt(start) || !isInt(end)) return wrong(field, span, "{start, end} integers");
    if (start < 0 || end <= start || end > n) {
      return {
        field,
        reason: "token span out of range",
        detail: `[${start}, ${end}) is not a non-empty span of the ${n}-character sentence`,
      };
    }
    tokens.push(chars ? chars.slice(start, end).join("") : sent.slice(start, end));
  }
  const head = new Map<number, number>();
  for (const [i, p] of pairs.entries()) {
    if (!isObject(p) || !isInt(p.dependent_index) || !isInt(p.governor_index)) {
      return wrong(`pairs[${i}]`, p, "{dependent_index, governor_index} integers");
    }
    head.set(p.dependent_index, p.governor_index);
  }
  const heads: number[] = [];
  for (let i = 1; i <= tokens.length; i++) {
    const h = head.get(i);
    if (h === undefined) {
      return { field: "pairs", reason: "word without head", detail: `no pair for word ${i}` };
    }
    heads.push(h);
  }
  return { tokens, heads };
}

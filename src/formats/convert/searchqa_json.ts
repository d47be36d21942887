// Open-domain QA with retrieved paragraphs: SearchQA, and Quasar-T once its questions and
// contexts are joined into one record. A JSON array or JSON lines of objects with
// - `question`: a string, or a list of words (joined by single spaces);
// - `answers` or else `answer`: a string or a list of strings; neither (or null): unlabelled
//   data for predict, stored with answers [];
// - the paragraphs, from the first present of `paragraphs`, `search_results` (SearchQA),
//   `snippets` and `contexts` (Quasar-T): a list whose items are strings, objects with a
//   `snippet` or else `text` string (SearchQA's search results), or `[score, text]` pairs
//   (Quasar-T's contexts). Null or blank paragraphs (SearchQA has results without a snippet)
//   are left out; a record left with none is refused (paragraphs empty).
// Other fields (ids, titles, urls, scores) are dropped.
import type { Problem } from "../schemas.ts";
import { type Item, jsonObjects } from "./source.ts";

const PARAGRAPH_FIELDS = ["paragraphs", "search_results", "snippets", "contexts"];

export async function* searchqaJson(path: string): AsyncGenerator<Item> {
  for await (const item of jsonObjects(path)) {
    if (!("row" in item)) {
      yield item;
      continue;
    }
    const r = item.row;
    const paragraphs = paragraphsOf(r);
    if (!Array.isArray(paragraphs)) {
      yield { at: item.at, problem: paragraphs };
      continue;
    }
    const q = r.question;
    const question = Array.isArray(q) && q.every((w) => typeof w === "string") ? q.join(" ") : q;
    const a = r.answers ?? r.answer ?? [];
    const answers = typeof a === "string" ? [a] : a;
    yield { at: item.at, row: { question, paragraphs, answers } };
  }
}

function paragraphsOf(r: Record<string, unknown>): string[] | Problem {
  const field = PARAGRAPH_FIELDS.find((f) => r[f] !== undefined && r[f] !== null);
  if (field === undefined) {
    return {
      field: "paragraphs",
      reason: "paragraphs missing",
      detail: `none of ${PARAGRAPH_FIELDS.join(", ")}`,
    };
  }
  const items = r[field];
  if (!Array.isArray(items)) {
    return {
      field,
      reason: "paragraphs wrong type",
      detail: `${JSON.stringify(items).slice(0, 80)} is not a list`,
    };
  }
  const out: string[] = [];
  for (const [i, p] of items.entries()) {
    const text = paragraphText(p);
    if (text === undefined) {
      return {
        field: `${field}[${i}]`,
        reason: "paragraph wrong type",
        detail: `${
          JSON.stringify(p).slice(0, 80)
        } is not a string, {snippet}/{text} object or [score, text] pair`,
      };
    }
    if (text !== null && text.trim() !== "") out.push(text);
  }
  return out;
}

// The paragraph's text, null for an empty slot, undefined for a shape not understood.
function paragraphText(p: unknown): string | null | undefined {
  if (p === null || typeof p === "string") return p;
  if (Array.isArray(p)) {
    return p.length === 2 && typeof p[0] === "number" && typeof p[1] === "string"
      ? p[1]
      : undefined;
  }
  if (typeof p === "object") {
    const o = p as Record<string, unknown>;
    const t = o.snippet !== undefined ? o.snippet : o.text;
    return t === null || typeof t === "string" ? t : undefined;
  }
  return undefined;
}

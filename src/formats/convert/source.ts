// What every converter yields: a candidate row or a parse problem, each with where it came
// from, so convert() can name the file, line and field of anything it rejects or skips.
import type { Problem } from "../schemas.ts";

// `file` names the source file when a converter reads several (a folder of per-relation files);
// `dropped` is a row left out by design (a duplicate, a judgment filter), always counted.
export type Item =
  | { at: string; file?: string; row: Record<string, unknown> }
  | { at: string; file?: string; problem: Problem }
  | { at: string; file?: string; dropped: string };

/** Options some formats need: LAMA templates (relations.jsonl) and a source name. */
export interface ReadOptions {
  relations?: string;
  source?: string;
}

/** The lines of a text file, numbered from 1, read as a stream. */
export async function* lines(path: string): AsyncGenerator<[number, string]> {
  const file = await Deno.open(path);
  let rest = "", n = 0;
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const line of parts) yield [++n, line.replace(/\r$/, "")];
  }
  if (rest !== "") yield [++n, rest.replace(/\r$/, "")];
}

/**
 * JSON objects from a JSON array (parsed whole: JSON.parse has no streaming form) or from
 * JSON lines (streamed; blank lines skipped). Positions: "item N" (0-based) or "line N".
 */
export async function* jsonObjects(path: string): AsyncGenerator<Item> {
  const text = await firstChars(path);
  if (text.trimStart().startsWith("[")) {
    const items = JSON.parse(await Deno.readTextFile(path));
    for (let i = 0; i < items.length; i++) yield object(`item ${i}`, items[i]);
    return;
  }
  for await (const [n, line] of lines(path)) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      yield { at: `line ${n}`, problem: { field: "(json)", reason: "bad JSON", detail: `${e}` } };
      continue;
    }
    yield object(`line ${n}`, value);
  }
}

function object(at: string, v: unknown): Item {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? { at, row: v as Record<string, unknown> }
    : { at, problem: { field: "(row)", reason: "not an object", detail: "not a JSON object" } };
}

async function firstChars(path: string): Promise<string> {
  using f = await Deno.open(path);
  const buf = new Uint8Array(256);
  const n = await f.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0));
}

// Arrow values to plain JS, checked on the way: int64 arrives as bigint, lists as Vectors.
// A value that cannot be read (damaged offsets), an integer outside JS's safe range, a list
// longer than any sentence, an empty word, is a DataError naming file, row, column and value,
// before the schema's own checks (schemas.ts's PROBLEM) see the row.
import * as A from "apache-arrow";
import { UserError } from "../errors.ts";
import { damagedHint } from "./arrow_ipc_check.ts";
import { arrowSchema, DataError, type SchemaName } from "./schemas.ts";

/** More entries than this in one row's list (words, heads, paragraphs) is not data. */
export const MAX_LIST = 1_000_000;

// The columns whose strings are words: each must be non-blank.
const WORDS: Partial<Record<SchemaName, string>> = {
  "trex-rc": "token",
  relation: "token",
  dependency: "tokens",
};

const STRICT = new Map<SchemaName, Set<string>>();
const strictColumns = (name: SchemaName): Set<string> => {
  if (!STRICT.has(name)) STRICT.set(name, new Set(arrowSchema(name).fields.map((f) => f.name)));
  return STRICT.get(name)!;
};

const show = (v: unknown) => typeof v === "bigint" ? `${v}` : JSON.stringify(v)?.slice(0, 80);

/** Reads and converts one row of `columns`, throwing a DataError for a bad value. */
export function rowValues(
  columns: readonly (readonly [string, A.Vector])[],
  i: number,
  name: SchemaName,
  file: string,
  row: number,
): Record<string, unknown> {
  const strict = strictColumns(name);
  const obj: Record<string, unknown> = {};
  for (const [field, col] of columns) {
    const fail = (at: string, reason: string, detail: string): never => {
      throw new DataError(file, `row ${row}`, at, reason, detail);
    };
    let raw: unknown;
    try {
      raw = col.get(i);
    } catch (e) {
      if (e instanceof UserError) throw e;
      fail(field, "unreadable", `cannot be read (${(e as Error).message}): ${damagedHint(name)}`);
    }
    const convert = (v: unknown, at: string): unknown => {
      if (typeof v === "bigint") {
        if (Number.isSafeInteger(Number(v))) return Number(v);
        return strict.has(field)
          ? fail(at, "int out of range", `${v} is outside the safe integer range (±2^53)`)
          : v;
      }
      if (typeof v === "number" && !Number.isFinite(v) && strict.has(field)) {
        fail(at, "not a number", `${v} is not a number`);
      }
      if (v instanceof A.Vector) {
        if (!(v.length >= 0 && v.length <= MAX_LIST)) {
          fail(at, "list too long", `a list of ${v.length} entries (at most ${MAX_LIST})`);
        }
        return Array.from(v, (x, j) => convert(x, `${field}[${j}]`));
      }
      return v;
    };
    try {
      obj[field] = convert(raw, field);
    } catch (e) {
      if (e instanceof UserError) throw e;
      fail(field, "unreadable", `cannot be read (${(e as Error).message}): ${damagedHint(name)}`);
    }
    if (WORDS[name] === field && Array.isArray(obj[field])) {
      const words = obj[field] as unknown[];
      const j = words.findIndex((w) => typeof w === "string" && w.trim() === "");
      if (j >= 0) fail(`${field}[${j}]`, "empty word", `${show(words[j])} is an empty word`);
    }
  }
  return obj;
}

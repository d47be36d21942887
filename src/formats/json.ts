// JSON for files users bring (safetensors headers, config.json, shard indexes): JSON.parse
// silently keeps the last of duplicate keys, so a file could say two things about one tensor.
// This parse refuses duplicates at every depth. The checks of parsed files share the small
// helpers below.
import { brief } from "../errors.ts";

/** A parsed JSON object: not null, not a list. */
export const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** An integer in [min, max]; safe, so a file's 2^60 is not one. */
export const intIn = (x: unknown, min: number, max: number): boolean =>
  Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= max;

/** The problems of a parsed file's fields, each as "field must be what, got value". */
export class FieldProblems {
  readonly list: string[] = [];
  readonly need = (ok: boolean, field: string, what: string, value: unknown): void => {
    if (!ok) this.list.push(`${field} must be ${what}, got ${brief(value)}`);
  };
}

/** JSON.parse that throws a SyntaxError on a duplicate key in any object. */
export function parseJsonStrict(text: string): unknown {
  const value = JSON.parse(text);
  const dup = duplicateKey(text);
  if (dup !== null) throw new SyntaxError(`duplicate key ${JSON.stringify(dup)}`);
  return value;
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

// One linear pass over text JSON.parse accepted: a stack of key sets, one per open object
// (null for arrays); a string is a key when the next non-space character is ':'.
function duplicateKey(text: string): string | null {
  const open: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) open.push(new Set());
    else if (c === 0x5b) open.push(null);
    else if (c === 0x7d || c === 0x5d) open.pop();
    else if (c === 0x22) {
      let j = i + 1, escaped = false;
      for (; text.charCodeAt(j) !== 0x22; j++) {
        if (text.charCodeAt(j) === 0x5c) {
          escaped = true;
          j++;
        }
      }
      const keys = open[open.length - 1];
      if (keys) {
        let k = j + 1;
        while (isSpace(text.charCodeAt(k))) k++;
        if (text.charCodeAt(k) === 0x3a) {
          const key = escaped ? JSON.parse(text.slice(i, j + 1)) : text.slice(i + 1, j);
          if (keys.has(key)) return key;
          keys.add(key);
        }
      }
      i = j;
    }
  }
  return null;
}

// How task text becomes token ids. `original`: as the released K-Adapter code does, through
// its bundled tokenizer (pytorch_transformers 1.2.0, tokenization_utils.py `tokenize` and
// tokenization_gpt2.py `_tokenize`): the text is split at special-token strings, each piece
// is stripped of Python whitespace and encoded with a leading space, so the first word of
// every segment gets `Ġ`. `hf`: the modern Hugging Face tokenizer (no leading space), with
// the tasks' own input layouts; kept for models trained that way.
import type { RobertaTokenizer } from "./tokenizer.ts";

export type Tokenization = "original" | "hf";
export const TOKENIZATIONS: readonly Tokenization[] = ["original", "hf"];
export const DEFAULT_TOKENIZATION: Tokenization = "original";
/** What a folder written before the scheme was recorded used. */
export const UNRECORDED_TOKENIZATION: Tokenization = "hf";

/** Python's whitespace (`str.isspace`, what `strip()` and `split()` use); JS `\s` adds U+FEFF. */
export const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a" +
  "\\u2028\\u2029\\u202f\\u205f\\u3000";
const EDGES = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "gu");

/** Python's `str.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(EDGES, "");
}

/**
 * The released tokenizer's ids of `text`: specials kept, every other piece after a space.
 * A text of whitespace only gives no ids; the released tokenizer gives it one special token
 * that depends on Python's string hash seed (all_special_tokens is built from a set).
 */
export function releasedIds(tok: RobertaTokenizer, text: string): number[] {
  const specials = new Map<string, number>();
  for (const id of [tok.bosId, tok.eosId, tok.unkId, tok.padId, tok.maskId]) {
    const t = tok.idToToken(id);
    if (t !== undefined) specials.set(t, id);
  }
  const out: number[] = [];
  let pieces: (string | number)[] = [text];
  for (const [t, id] of specials) {
    pieces = pieces.flatMap((p) =>
      typeof p === "number" ? [p] : p.split(t).flatMap((s, i) => (i > 0 ? [id, s] : [s]))
    );
  }
  for (const p of pieces) {
    if (typeof p === "number") out.push(p);
    else if (pyStrip(p) !== "") out.push(...tok.encodeText(" " + pyStrip(p)));
  }
  return out;
}

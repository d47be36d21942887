// LAMA queries for a RoBERTa-style model: rows of the `lama` schema read from Arrow, filtered
// (single-token objects, the common vocabulary, LAMA-UHN) with every skip counted by reason,
// and encoded the way LAMA's RoBERTa connector does: the text before [MASK] right-stripped
// and encoded, then the mask token's id (RoBERTa's <mask> absorbs the space before it), then
// the text after it right-stripped and encoded, between <s> and </s>.
import { readRows } from "../formats/arrow.ts";
import { LAMA_MASK, type LamaRow } from "../formats/schemas.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { singleTokenId, uhnFilter } from "./lama_metrics.ts";

/** The rows of a `lama` dataset (Arrow file, stream or save_to_disk folder), streamed. */
export async function* readLamaQueries(path: string, split?: string): AsyncGenerator<LamaRow> {
  for await (const batch of readRows(path, "lama", split)) yield* batch;
}

/** Common-vocabulary words, one per line (LAMA's common_vocab_cased.txt); blanks skipped. */
export async function readWordList(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").map((l) => l.replace(/\r$/, "")).filter(
    (l) => l.trim() !== "",
  );
}

export interface LamaQuery {
  relation: string;
  sub: string;
  obj: string;
  source: string;
  /** The gold object's token id. */
  objId: number;
  /** <s> before <mask> after </s>. */
  ids: number[];
  /** Index of the mask token in ids. */
  maskPos: number;
  /** The sentence with [MASK] replaced by the tokenizer's mask token (for display). */
  text: string;
}

export interface PlanOptions {
  /** Drop facts whose object is a case-insensitive substring of the subject. */
  uhn?: boolean;
  /** Candidate ids (commonVocab().ids): objects outside it are skipped. */
  commonVocab?: Int32Array | null;
  /** Skip queries longer than this many tokens (specials included). */
  maxLength?: number;
}

export interface LamaPlan {
  queries: LamaQuery[];
  /** Skipped rows by reason, in first-seen order. */
  skipped: Map<string, number>;
}

export const SKIP = {
  noMask: "no [MASK]",
  severalMasks: "several [MASK]",
  uhn: "uhn: object in subject name",
  notSingle: "object not a single token",
  notCommon: "object not in common vocabulary",
  tooLong: "longer than maxLength",
} as const;

/** Ids of a masked sentence, LAMA's RoBERTa way, and the mask's position; null without one mask. */
export function encodeMasked(
  tok: RobertaTokenizer,
  sentence: string,
): { ids: number[]; maskPos: number } | null {
  const parts = sentence.split(LAMA_MASK);
  if (parts.length !== 2) return null;
  const before = tok.encodeText(parts[0].trimEnd()), after = tok.encodeText(parts[1].trimEnd());
  const ids = [tok.bosId, ...before, tok.maskId, ...after, tok.eosId];
  return { ids, maskPos: 1 + before.length };
}

/** Usable queries and the skip counts. Checks in order: mask, UHN, single token, vocabulary. */
export async function planQueries(
  rows: Iterable<LamaRow> | AsyncIterable<LamaRow>,
  tok: RobertaTokenizer,
  { uhn = false, commonVocab = null, maxLength }: PlanOptions = {},
): Promise<LamaPlan> {
  const vocab = commonVocab ? new Set(commonVocab) : null;
  const maskText = tok.idToToken(tok.maskId) ?? "<mask>";
  const queries: LamaQuery[] = [], skipped = new Map<string, number>();
  const skip = (reason: string) => skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  for await (const r of rows) {
    const masks = r.masked_sentence.split(LAMA_MASK).length - 1;
    if (masks !== 1) {
      skip(masks === 0 ? SKIP.noMask : SKIP.severalMasks);
      continue;
    }
    if (uhn && uhnFilter(r.sub_label, r.obj_label)) {
      skip(SKIP.uhn);
      continue;
    }
    const objId = singleTokenId(tok, r.obj_label);
    if (objId === null) {
      skip(SKIP.notSingle);
      continue;
    }
    if (vocab && !vocab.has(objId)) {
      skip(SKIP.notCommon);
      continue;
    }
    const { ids, maskPos } = encodeMasked(tok, r.masked_sentence)!;
    if (maxLength !== undefined && ids.length > maxLength) {
      skip(SKIP.tooLong);
      continue;
    }
    queries.push({
      relation: r.relation,
      sub: r.sub_label,
      obj: r.obj_label,
      source: r.source,
      objId,
      ids,
      maskPos,
      text: r.masked_sentence.replace(LAMA_MASK, () => maskText),
    });
  }
  return { queries, skipped };
}

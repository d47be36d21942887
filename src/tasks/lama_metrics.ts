// LAMA probing metrics (reference section 6): the rank of the gold object among candidate
// tokens, P@1, P@10 and MRR per relation and macro-averaged over relations as LAMA reports
// them; the LAMA-UHN string-match filter; single-token objects and the common vocabulary for
// a byte-level BPE tokenizer. Pure functions: scores come from wherever the model ran.
import type { RobertaTokenizer } from "../formats/tokenizer.ts";

/**
 * 1-based rank of `gold` among `candidates` (all ids 0..scores.length-1 when null) by
 * descending score. Ties are broken by id: an equal-scored candidate with a smaller id ranks
 * ahead of gold (what a stable descending sort gives), so the result is deterministic. NaN
 * scores of other candidates never rank ahead. Throws when gold is not a candidate or its
 * score is NaN.
 */
export function rankOf(
  scores: ArrayLike<number>,
  gold: number,
  candidates: Int32Array | null = null,
): number {
  if (!Number.isInteger(gold) || gold < 0 || gold >= scores.length) {
    throw new Error(`gold id ${gold} is outside the ${scores.length} scores`);
  }
  const g = scores[gold];
  if (Number.isNaN(g)) throw new Error(`gold id ${gold} has a NaN score`);
  let ahead = 0, found = candidates === null;
  const n = candidates === null ? scores.length : candidates.length;
  for (let k = 0; k < n; k++) {
    const c = candidates === null ? k : candidates[k];
    if (c === gold) {
      found = true;
      continue;
    }
    const s = scores[c];
    if (s > g || (s === g && c < gold)) ahead++;
  }
  if (!found) throw new Error(`gold id ${gold} is not among the candidates`);
  return ahead + 1;
}

export interface QueryMetrics {
  /** 1 when gold ranks first, else 0. */
  p1: number;
  /** 1 when gold ranks in the top 10, else 0. */
  p10: number;
  /** Reciprocal rank, 1 / rank; 0 past MRR_TOP_K. */
  rr: number;
}

/**
 * LAMA's MRR looks for the gold object among the top 10,000 predictions only
 * (batch_eval_KB_completion.py passes topk=10000 to evaluation_metrics.get_ranking), so a
 * gold object ranked lower scores 0.
 */
export const MRR_TOP_K = 10000;

export function queryMetrics(rank: number): QueryMetrics {
  if (!Number.isInteger(rank) || rank < 1) throw new Error(`rank must be >= 1, got ${rank}`);
  return { p1: rank <= 1 ? 1 : 0, p10: rank <= 10 ? 1 : 0, rr: rank <= MRR_TOP_K ? 1 / rank : 0 };
}

/** Means over a set of queries, as fractions in [0, 1] (LAMA prints P@1 in percent). */
export interface LamaScores {
  p1: number;
  p10: number;
  mrr: number;
}

export interface LamaAggregate {
  /** Per relation, in first-seen order: query count and means over its queries. */
  perRelation: Map<string, LamaScores & { n: number }>;
  /** Unweighted mean over relations of the per-relation means (LAMA's reported figure). */
  macro: LamaScores;
  /** Mean over all queries, each relation weighted by its query count. */
  micro: LamaScores & { n: number };
}

export function aggregate(perQuery: Iterable<{ relation: string; rank: number }>): LamaAggregate {
  const sums = new Map<string, { n: number; p1: number; p10: number; rr: number }>();
  const all = { n: 0, p1: 0, p10: 0, rr: 0 };
  for (const { relation, rank } of perQuery) {
    const m = queryMetrics(rank);
    let s = sums.get(relation);
    if (!s) sums.set(relation, s = { n: 0, p1: 0, p10: 0, rr: 0 });
    for (const t of [s, all]) t.n++, t.p1 += m.p1, t.p10 += m.p10, t.rr += m.rr;
  }
  const mean = (t: { n: number; p1: number; p10: number; rr: number }) =>
    t.n === 0
      ? { n: 0, p1: 0, p10: 0, mrr: 0 }
      : { n: t.n, p1: t.p1 / t.n, p10: t.p10 / t.n, mrr: t.rr / t.n };
  const perRelation = new Map([...sums].map(([r, t]) => [r, mean(t)]));
  const rels = [...perRelation.values()], k = rels.length;
  const avg = (f: (x: LamaScores) => number) =>
    k === 0 ? 0 : rels.reduce((a, x) => a + f(x), 0) / k;
  return {
    perRelation,
    macro: { p1: avg((x) => x.p1), p10: avg((x) => x.p10), mrr: avg((x) => x.mrr) },
    micro: mean(all),
  };
}

/**
 * LAMA-UHN's string-match filter: true (drop the fact) when the object is a case-insensitive
 * substring of the subject ("Apple Watch" / "Apple"). The name-guessing half of UHN needs a
 * model and is not done here.
 */
export function uhnFilter(sub: string, obj: string): boolean {
  return sub.toLowerCase().includes(obj.toLowerCase());
}

/**
 * The id of `obj` when " " + obj is exactly one BPE token (LAMA's single-token objects for
 * RoBERTa: the object follows a space in the sentence), else null.
 */
export function singleTokenId(tok: RobertaTokenizer, obj: string): number | null {
  if (obj === "") return null;
  const ids = tok.encodeText(" " + obj);
  return ids.length === 1 && ids[0] !== tok.unkId ? ids[0] : null;
}

export interface CommonVocab {
  /** Candidate ids, ascending, without duplicates. */
  ids: Int32Array;
  /** The words that are not one token after a space, in input order. */
  rejected: string[];
}

/** A common vocabulary's candidate ids: each word with a leading space as one token. */
export function commonVocab(tok: RobertaTokenizer, words: Iterable<string>): CommonVocab {
  const ids = new Set<number>(), rejected: string[] = [];
  for (const w of words) {
    const id = singleTokenId(tok, w);
    if (id === null) rejected.push(w);
    else ids.add(id);
  }
  return { ids: Int32Array.from([...ids].sort((a, b) => a - b)), rejected };
}

// LAMA-UHN's person-name filter (Poerner, Waltinger & Schütze, "E-BERT: Efficient-Yet-Effective
// Entity Embeddings for BERT", Findings of EMNLP 2020, section on LAMA-UHN; arXiv 1911.03681):
// for relations about a person's origin or language, the model is asked about the subject's
// name alone ("[X] is a common name in the following city: [MASK] .") and the fact is dropped
// when the gold object is among the model's top 3 predictions: a model can then answer from
// the surface form of the name (an Italian-sounding name speaks Italian) without knowing the
// fact. The string-match half of UHN (object inside the subject name) is uhnFilter in
// lama_metrics.ts, applied by planQueries.
//
// Differences from the paper, by design: the paper filtered with BERT-base and BERT-large;
// here the model is the one the user names (`probe lama --uhn-model DIR`, a RoBERTa-style
// folder with its masked-LM head), and its predictions are ranked over the same candidates as
// the main probe (the common vocabulary when given), so "top 3" means the same thing as the
// probe's P@k. The name probe goes through the probe's own code path (probeScorer).
import { LAMA_MASK } from "../formats/schemas.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import type { FrozenRoberta } from "../models/roberta_frozen.ts";
import { encodeMasked, type LamaQuery } from "./lama_data.ts";
import { singleTokenId } from "./lama_metrics.ts";
import { type MaskScorer, mlmScorer, probeScorer } from "./lama_probe.ts";

/** A fact is "guessable from the name" when its object is among this many predictions. */
export const UHN_TOP_K = 3;

/** The skip reason of the facts this filter drops. */
export const SKIP_UHN_NAME = "uhn: guessable from the name";

const nameTemplate = (what: "city" | "country" | "language") =>
  `[X] is a common name in the following ${what}: ${LAMA_MASK} .`;

/**
 * The person-name relations and their name-only templates ([X]: the subject's name): T-REx
 * P19 place of birth, P20 place of death, P27 country of citizenship, P103 native language,
 * P1412 languages spoken; Google-RE place_of_birth and place_of_death (the converter names a
 * Google-RE relation by the last part of its `pred`).
 */
export const NAME_TEMPLATES: Readonly<Record<string, string>> = Object.freeze({
  P19: nameTemplate("city"),
  P20: nameTemplate("city"),
  place_of_birth: nameTemplate("city"),
  place_of_death: nameTemplate("city"),
  P27: nameTemplate("country"),
  P103: nameTemplate("language"),
  P1412: nameTemplate("language"),
});

/** The model that guesses from names: its tokenizer and masked-position scorer. */
export interface NameGuesser {
  tok: RobertaTokenizer;
  scorer: MaskScorer;
  padId: number;
}

/** A loaded model with its masked-LM head as a NameGuesser. */
export function mlmGuesser(model: FrozenRoberta, tok: RobertaTokenizer): NameGuesser {
  return { tok, scorer: mlmScorer(model), padId: model.dims.padId };
}

export interface PersonNameOptions {
  /** Candidate ids in the guesser's vocabulary (commonVocab().ids), or null for all. */
  candidates: Int32Array | null;
  /** Default UHN_TOP_K (the paper's 3). */
  topK?: number;
  /** Name queries per forward pass (default 32). */
  batchSize?: number;
  /** Name queries longer than this (tokens, specials included) are not asked; kept. */
  maxLength?: number;
  onBatch?: (n: number) => void;
}

export interface PersonNameResult {
  /** The queries kept, in input order. */
  queries: LamaQuery[];
  /** How many were dropped (SKIP_UHN_NAME). */
  dropped: number;
  /** How many were of a person-name relation and so were checked. */
  checked: number;
  /** The distinct name queries (sentences) the guesser answered. */
  asked: number;
}

/** The name-only query of a fact, or null for a relation that is not a person-name one. */
export function nameSentence(q: Pick<LamaQuery, "relation" | "sub">): string | null {
  const t = NAME_TEMPLATES[q.relation];
  return t === undefined ? null : t.replace("[X]", () => q.sub);
}

/**
 * Drops the facts of person-name relations whose object the guesser puts among its top `topK`
 * for the subject's name alone; other relations pass through. An object that is not one token
 * (or not a candidate) for the guesser cannot be guessed and is kept. Each distinct name
 * sentence is asked once (P19 and place_of_birth share theirs, as do P103 and P1412).
 */
export async function personNameFilter(
  queries: readonly LamaQuery[],
  guesser: NameGuesser,
  { candidates, topK = UHN_TOP_K, batchSize = 32, maxLength, onBatch }: PersonNameOptions,
): Promise<PersonNameResult> {
  if (!(Number.isInteger(topK) && topK >= 1)) throw new Error(`topK must be >= 1, got ${topK}`);
  const cand = candidates ? new Set(candidates) : null;
  const asks = new Map<string, LamaQuery>();
  // Per input query: the key of its name query and its object's id for the guesser.
  const plan: ({ key: string; objId: number } | null)[] = queries.map((q) => {
    const sentence = nameSentence(q);
    if (sentence === null) return null;
    const objId = singleTokenId(guesser.tok, q.obj);
    const key = sentence;
    if (objId === null || (cand && !cand.has(objId))) return { key, objId: -1 };
    if (!asks.has(key)) {
      const enc = encodeMasked(guesser.tok, sentence);
      if (enc === null || (maxLength !== undefined && enc.ids.length > maxLength)) {
        return { key, objId: -1 };
      }
      asks.set(key, {
        relation: q.relation,
        sub: q.sub,
        obj: q.obj,
        source: "uhn-name",
        objId, // any candidate: only the top-k of the name query is used
        ids: enc.ids,
        maskPos: enc.maskPos,
        text: sentence,
      });
    }
    return { key, objId };
  });
  const keys = [...asks.keys()];
  const { top } = await probeScorer(guesser.scorer, guesser.padId, [...asks.values()], {
    batchSize,
    candidates,
    topK,
    onBatch,
  });
  const topOf = new Map(keys.map((k, i) => [k, new Set(top[i].map((p) => p.id))]));
  const kept: LamaQuery[] = [];
  let dropped = 0, checked = 0;
  queries.forEach((q, i) => {
    const p = plan[i];
    if (p !== null) checked++;
    if (p !== null && p.objId >= 0 && topOf.get(p.key)?.has(p.objId)) dropped++;
    else kept.push(q);
  });
  return { queries: kept, dropped, checked, asked: keys.length };
}

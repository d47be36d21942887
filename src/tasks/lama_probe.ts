// LAMA probing (reference section 6): each query's masked position scored over the vocabulary,
// the gold object ranked among the candidates (the whole vocabulary or a common vocabulary),
// the top-k kept, and P@1, P@10 and MRR reported per relation and macro-averaged. Scoring is
// a pluggable `MaskScorer` ([b, vocab] scores of the mask rows of a padded batch); probeMlm
// uses the plain model's own masked-LM head, and another scorer (encoder + adapters through a
// trained MLM layer) can go through the same probeScorer.
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import type { FrozenRoberta } from "../models/roberta_frozen.ts";
import type { EncoderInput } from "../models/roberta_inputs.ts";
import { cast, indexSelect, noGrad, reshape, Tensor, tidy } from "../tensor/mod.ts";
import type { LamaQuery } from "./lama_data.ts";
import { AdapterFeatures } from "../models/adapter_features.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import type { ProbeMlmLayer } from "./probe_mlm_layer.ts";
import { aggregate, type LamaScores, rankOf } from "./lama_metrics.ts";

/**
 * Scores of the masked positions of a padded batch: `rows[i]` is the row of query i's mask in
 * the batch flattened to [batch * seqLen]. Runs synchronously (inside tidy and noGrad) and
 * returns [batch, vocab] in any float dtype.
 */
export type MaskScorer = (input: EncoderInput, rows: Int32Array) => Tensor;

export interface ProbeOptions {
  /** Queries per forward pass. */
  batchSize: number;
  /** Candidate ids (commonVocab().ids), or null for the whole vocabulary. */
  candidates: Int32Array | null;
  /** Predictions kept per query. */
  topK: number;
  /** Called after each batch with the number of queries it held. */
  onBatch?: (n: number) => void;
}

export interface Prediction {
  id: number;
  score: number;
}

export interface ProbeResult {
  /** 1-based rank of each query's gold object among the candidates, in query order. */
  ranks: number[];
  /** Each query's best `topK` candidates by descending score (ties: smaller id first). */
  top: Prediction[][];
}

/**
 * The `k` best candidates by descending score, equal scores in ascending id (the order
 * rankOf counts in), NaN scores never included.
 */
export function topK(
  scores: ArrayLike<number>,
  k: number,
  candidates: Int32Array | null = null,
): Prediction[] {
  const best: Prediction[] = [];
  const n = candidates === null ? scores.length : candidates.length;
  const before = (a: Prediction, b: Prediction) =>
    a.score > b.score || (a.score === b.score && a.id < b.id);
  for (let j = 0; j < n && k > 0; j++) {
    const id = candidates === null ? j : candidates[j], score = scores[id];
    if (Number.isNaN(score)) continue;
    const p = { id, score };
    if (best.length === k && !before(p, best[k - 1])) continue;
    // Insertion into a sorted list of at most k: k is small (10).
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && before(p, best[at - 1])) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = p;
  }
  return best;
}

/** The padded batch of `ids` and the flat row of each mask. */
function maskBatch(
  padId: number,
  seqs: number[][],
  maskPos: number[],
): { input: EncoderInput; rows: Int32Array } {
  const b = seqs.length, s = Math.max(...seqs.map((q) => q.length));
  const inputIds = new Int32Array(b * s).fill(padId), attentionMask = new Int32Array(b * s);
  const rows = new Int32Array(b);
  seqs.forEach((q, i) => {
    inputIds.set(q, i * s);
    attentionMask.fill(1, i * s, i * s + q.length);
    rows[i] = i * s + maskPos[i];
  });
  return { input: { inputIds, attentionMask, batch: b, seqLen: s }, rows };
}

/**
 * Ranks and top-k of every query with any scorer. Queries are batched in order of length
 * (less padding); results come back in query order.
 */
export async function probeScorer(
  scorer: MaskScorer,
  padId: number,
  queries: readonly LamaQuery[],
  { batchSize, candidates, topK: k, onBatch }: ProbeOptions,
): Promise<ProbeResult> {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!(Number.isInteger(k) && k >= 0)) throw new Error(`topK must be >= 0, got ${k}`);
  for (const [i, q] of queries.entries()) {
    if (!(Number.isInteger(q.maskPos) && q.maskPos >= 0 && q.maskPos < q.ids.length)) {
      throw new Error(`query ${i}: mask position ${q.maskPos} is outside its ${q.ids.length} ids`);
    }
  }
  const order = queries.map((_, i) => i).sort((a, b) =>
    queries[a].ids.length - queries[b].ids.length || a - b
  );
  const ranks = new Array<number>(queries.length), top = new Array<Prediction[]>(queries.length);
  for (let i0 = 0; i0 < order.length; i0 += batchSize) {
    const idx = order.slice(i0, i0 + batchSize);
    const { input, rows } = maskBatch(
      padId,
      idx.map((i) => queries[i].ids),
      idx.map((i) => queries[i].maskPos),
    );
    const scores = tidy(() =>
      noGrad(() => {
        const s = scorer(input, rows);
        return s.dtype === "f32" ? s : cast(s, "f32");
      })
    );
    let v: Float32Array | Int32Array;
    try {
      if (scores.shape.length !== 2 || scores.shape[0] !== idx.length) {
        throw new Error(`the scorer returned [${scores.shape}], expected [${idx.length}, vocab]`);
      }
      v = await scores.data();
    } finally {
      scores.dispose();
    }
    const V = scores.shape[1];
    idx.forEach((q, j) => {
      const row = v.subarray(j * V, (j + 1) * V);
      ranks[q] = rankOf(row, queries[q].objId, candidates);
      top[q] = topK(row, k, candidates);
    });
    onBatch?.(idx.length);
  }
  return { ranks, top };
}

/** The plain model's masked-LM head as a scorer: the vocabulary projection runs on mask rows only. */
export function mlmScorer(model: FrozenRoberta): MaskScorer {
  const L = model.dims.layers, H = model.dims.hidden;
  return (input, rows) => {
    const [h] = model.hiddenStates(input, { keep: [L] });
    const picked = indexSelect(
      reshape(h, [input.batch * input.seqLen, H]),
      0,
      Tensor.from(rows, [rows.length], "i32"),
    );
    return model.mlmLogits(picked);
  };
}

/**
 * Encoder + adapters through a trained MLM layer (probe_mlm_layer.ts) as a scorer: the
 * final feature cat(last, adapter_1, ...) of the mask rows only goes through the layer.
 */
export function probeMlmLayerScorer(
  encoder: FrozenRoberta,
  adapters: readonly AdapterModel[],
  layer: ProbeMlmLayer,
  /** The queries' max length: the padding a mask-"all" adapter sees. */
  padTo: number,
): MaskScorer {
  const features = new AdapterFeatures(encoder, adapters, padTo);
  if (features.parts !== 1 + layer.adapters) {
    throw new Error(
      `the MLM layer reads ${layer.adapters} adapter(s), ${features.parts - 1} given`,
    );
  }
  return (input, rows) => layer.logits(features.features(input), rows);
}

/** probeScorer with the model's own masked-LM head (the model must be loaded with lmHead). */
export function probeMlm(
  model: FrozenRoberta,
  queries: readonly LamaQuery[],
  opts: ProbeOptions,
): Promise<ProbeResult> {
  return probeScorer(mlmScorer(model), model.dims.padId, queries, opts);
}

export interface ProbeReport {
  /** Per relation in first-seen order: query count, P@1, P@10, MRR (fractions). */
  relations: Record<string, LamaScores & { n: number }>;
  /** Unweighted mean over relations (LAMA's figure). */
  macro: LamaScores;
  /** Mean over all queries. */
  micro: LamaScores & { n: number };
}

export function probeReport(queries: readonly LamaQuery[], ranks: readonly number[]): ProbeReport {
  if (ranks.length !== queries.length) {
    throw new Error(`${ranks.length} ranks for ${queries.length} queries`);
  }
  const agg = aggregate(queries.map((q, i) => ({ relation: q.relation, rank: ranks[i] })));
  return {
    relations: Object.fromEntries(agg.perRelation),
    macro: agg.macro,
    micro: agg.micro,
  };
}

/** One predictions.jsonl record. */
export function predictionRecord(
  tok: RobertaTokenizer,
  q: LamaQuery,
  rank: number,
  top: Prediction[],
): Record<string, unknown> {
  return {
    relation: q.relation,
    sub: q.sub,
    obj: q.obj,
    source: q.source,
    text: q.text,
    rank,
    top: top.map((p) => ({ token: tok.decode([p.id]).trim(), id: p.id, score: p.score })),
  };
}

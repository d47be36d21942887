// Masked-LM data as RoBERTa pretrains (and as K-Adapter's probing layer is trained): 15% of
// the ordinary tokens are chosen; of those 80% become <mask>, 10% a random ordinary token and
// 10% stay; the loss scores the chosen positions only. Shared by `model pretrain` and
// `probe train-mlm`: the masking, seeded batches, dev scoring and text corpora.
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { Rng } from "../nn/init.ts";
import type { Module } from "../nn/module.ts";
import { crossEntropy, indexSelect, max, noGrad, reshape, Tensor, tidy } from "../tensor/mod.ts";
import type { ProgressOptions } from "../train/progress.ts";
import { RunError } from "../train/run.ts";
import { type Example, Examples, padBatch, type PaddedBatch } from "./examples.ts";
import { type Encoding, loadSplit, skippedText, type Split, type Task } from "./task.ts";
import { IGNORE } from "./metrics.ts";

export interface MlmMasking {
  /** Share of ordinary tokens chosen (0.15). */
  probability: number;
  maskId: number;
  vocab: number;
  /** Ids never chosen nor drawn as random replacements (<s>, </s>, <pad>, <mask>, ...). */
  specials: ReadonlySet<number>;
}

/**
 * Masks `ids` (a padded [batch * seq] row-major batch, or one sequence). Returns the model's
 * input and the labels: the original id at chosen positions, IGNORE elsewhere. At least one
 * token of a sequence with ordinary tokens is chosen, so no example is without a loss term.
 */
export function maskTokens(
  ids: ArrayLike<number>,
  seqLen: number,
  m: MlmMasking,
  rng: Rng,
): { input: Int32Array; labels: Int32Array } {
  const input = Int32Array.from(ids), labels = new Int32Array(ids.length).fill(IGNORE);
  const randomToken = () => {
    for (;;) {
      const t = rng.int(m.vocab);
      if (!m.specials.has(t)) return t;
    }
  };
  for (let start = 0; start < ids.length; start += seqLen) {
    const ordinary: number[] = [];
    for (let i = start; i < start + seqLen; i++) if (!m.specials.has(ids[i])) ordinary.push(i);
    const chosen = ordinary.filter(() => rng.next() < m.probability);
    if (chosen.length === 0 && ordinary.length > 0) chosen.push(ordinary[rng.int(ordinary.length)]);
    for (const i of chosen) {
      labels[i] = ids[i];
      const r = rng.next();
      if (r < 0.8) input[i] = m.maskId;
      else if (r < 0.9) input[i] = randomToken();
    }
  }
  return { input, labels };
}

/** A 32-bit seed from a run seed and a list of integers (murmur3-style mixing). */
export function mixSeed(seed: number, values: ArrayLike<number>): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  const mix = (x: number) => {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  };
  for (let i = 0; i < values.length; i++) mix(values[i]);
  mix(values.length);
  return h >>> 0;
}

/** The masking settings of a tokenizer: its specials are never chosen nor drawn. */
export function masking(tok: RobertaTokenizer, vocab: number, probability: number): MlmMasking {
  return {
    probability,
    maskId: tok.maskId,
    vocab,
    specials: new Set([tok.bosId, tok.eosId, tok.padId, tok.maskId, tok.unkId]),
  };
}

export interface MaskedBatch {
  /** The padded batch with the masked input ids. */
  batch: PaddedBatch;
  /** [batch * seqLen]: original ids at the chosen positions, IGNORE elsewhere. */
  labels: Int32Array;
  /** The chosen positions' flat rows in the batch, and their original ids. */
  rows: Int32Array;
  gold: Int32Array;
}

function chosen(batch: PaddedBatch, labels: Int32Array): MaskedBatch {
  const rows: number[] = [], gold: number[] = [];
  labels.forEach((l, i) => {
    if (l !== IGNORE) rows.push(i), gold.push(l);
  });
  return { batch, labels, rows: Int32Array.from(rows), gold: Int32Array.from(gold) };
}

/**
 * A training batch of `indices`, masked with an Rng seeded by (seed, indices): the same call
 * gives the same mask, so a resumed run (same batches, from the checkpointed sampler)
 * reproduces every mask without extra state. A batch repeated exactly (same examples, same
 * order) would repeat its mask, which shuffled epochs make vanishingly rare.
 */
export function maskedBatch(
  ex: Examples,
  indices: number[],
  m: MlmMasking,
  padId: number,
  seed: number,
): MaskedBatch {
  const b = padBatch(ex, indices, padId);
  const { input, labels } = maskTokens(b.inputIds, b.seqLen, m, new Rng(mixSeed(seed, indices)));
  return chosen({ ...b, inputIds: input }, labels);
}

/** Salt of the dev masks' seeds, so they differ from any training batch's. */
const DEV_SALT = 0x6d6c6d;

/**
 * A dev batch: each example masked on its own with the seed of (seed, salt, its index), so
 * every evaluation of a run scores the same tokens whatever the batching.
 */
export function devMaskedBatch(
  ex: Examples,
  indices: number[],
  m: MlmMasking,
  padId: number,
  seed: number,
): MaskedBatch {
  const b = padBatch(ex, indices, padId);
  const labels = new Int32Array(b.inputIds.length);
  indices.forEach((i, row) => {
    const at = row * b.seqLen, seq = b.inputIds.subarray(at, at + b.seqLen);
    const r = maskTokens(seq, b.seqLen, m, new Rng(mixSeed(seed, [DEV_SALT, i])));
    b.inputIds.set(r.input, at);
    labels.set(r.labels, at);
  });
  return chosen(b, labels);
}

/**
 * Summed cross-entropy and the number right (gold scores the row's maximum) of vocabulary
 * logits [n, vocab] at masked positions; computed on the GPU, reading back 3n numbers.
 */
export async function maskedScores(
  logits: Tensor,
  gold: Int32Array,
): Promise<{ lossSum: number; correct: number }> {
  const [n, V] = logits.shape;
  const flat = Int32Array.from(gold, (t, r) => r * V + t);
  const [ce, g, mx] = tidy(() =>
    noGrad(() => [
      crossEntropy(logits, Tensor.from(gold, [n], "i32")),
      indexSelect(reshape(logits, [n * V]), 0, Tensor.from(flat, [n], "i32")),
      max(logits, 1),
    ])
  );
  try {
    const [cv, gv, mv] = await Promise.all([ce.data(), g.data(), mx.data()]);
    let correct = 0;
    for (let r = 0; r < n; r++) if (gv[r] >= mv[r]) correct++;
    return { lossSum: cv[0] * n, correct };
  } finally {
    [ce, g, mx].forEach((t) => t.dispose());
  }
}

/** One corpus line as `<s> line </s>` cut to maxLength, or why it is skipped. */
export function encodeLine(
  tok: RobertaTokenizer,
  text: string,
  maxLength: number,
  onTruncated?: () => void,
): Example | string {
  if (text.trim() === "") return "empty text";
  const e = tok.encode(text, { maxLength });
  if (e.ids.length <= 2) return "no tokens";
  if (e.truncated > 0) onTruncated?.();
  return { ids: e.ids };
}

/**
 * A `text`-schema corpus as `<s> line </s>` examples cut to maxLength; empty lines are skipped
 * and counted, truncations reported.
 */
export async function loadCorpus(
  tok: RobertaTokenizer,
  vocab: number,
  path: string,
  o: {
    maxLength: number;
    split?: string;
    limit?: number;
    progress?: ProgressOptions;
    say: (line: string) => void;
  },
): Promise<Split<Examples>> {
  let truncated = 0;
  const split = await loadSplit(
    {
      schema: "text",
      store: () => new Examples(vocab),
      encode: (row) => encodeLine(tok, row.text, o.maxLength, () => truncated++),
    },
    path,
    { split: o.split, limit: o.limit, progress: o.progress },
  );
  const { ex, report: r } = split;
  const skipped = skippedText(r);
  o.say(
    `${path}: ${r.kept} examples, ${ex.tokenCount} tokens` +
      (truncated ? `, ${truncated} truncated to ${o.maxLength}` : "") +
      (skipped ? ` (${skipped})` : ""),
  );
  if (r.kept === 0) throw new RunError(`${path}: no usable examples`);
  return split;
}

/** What makes a masked-LM task of a model: its logits at the chosen positions, and more. */
export interface MaskedLmSpec<M> {
  name: string;
  /** Vocabulary logits [chosen, vocab] at the chosen positions of a masked batch. */
  logits(model: M, mb: MaskedBatch): Tensor;
  /** Modules in eval mode during evaluation (then back as they were). */
  modules(model: M): Module[];
  /** Evaluate in order of length (less padding) rather than in data order. */
  byLength: boolean;
  bestMetric: string;
  /** Dev metrics from the summed loss, the number right and the chosen tokens. */
  metrics(lossSum: number, correct: number, tokens: number): Record<string, number>;
}

/**
 * Masked language modelling over a `text` corpus as a task: `<s> line </s>` examples, each
 * training batch masked from (seed, its examples) so a resume reproduces it, the mean
 * cross-entropy at the chosen positions; dev with fixed per-example masks (lower loss is better).
 */
export function maskedLmTask<M>(
  c: Encoding,
  m: MlmMasking,
  seed: number,
  spec: MaskedLmSpec<M>,
): Task<"text", Example, Examples, M> {
  return {
    name: spec.name,
    schema: "text",
    bestMetric: spec.bestMetric,
    lowerIsBetter: true,
    store: () => new Examples(c.vocab),
    encode: (row) => encodeLine(c.tok, row.text, c.maxLength),
    loss: (model, ex, indices) => {
      const mb = maskedBatch(ex, indices, m, c.padId, seed);
      return crossEntropy(spec.logits(model, mb), Tensor.from(mb.gold, [mb.gold.length], "i32"));
    },
    async evaluate(model, { ex }, batchSize) {
      const order = Array.from({ length: ex.length }, (_, i) => i);
      if (spec.byLength) order.sort((a, b) => ex.ids(a).length - ex.ids(b).length);
      let lossSum = 0, correct = 0, tokens = 0;
      const modules = spec.modules(model), was = modules.map((x) => x.training);
      modules.forEach((x) => x.train(false));
      try {
        for (let i = 0; i < ex.length; i += batchSize) {
          const mb = devMaskedBatch(ex, order.slice(i, i + batchSize), m, c.padId, seed);
          if (mb.rows.length === 0) continue;
          const logits = tidy(() => noGrad(() => spec.logits(model, mb)));
          try {
            const r = await maskedScores(logits, mb.gold);
            lossSum += r.lossSum;
            correct += r.correct;
            tokens += mb.rows.length;
          } finally {
            logits.dispose();
          }
        }
      } finally {
        modules.forEach((x, k) => x.train(was[k]));
      }
      return { metrics: spec.metrics(lossSum, correct, tokens), predictions: [] };
    },
  };
}

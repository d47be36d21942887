// Masked-LM pretraining of a whole RoBERTa model folder (`kadapter model pretrain`): the model
// and its lm_head trainable, a `text`-schema corpus encoded once (`<s> line </s>`, truncated to
// the maximum length), RoBERTa's dynamic masking (15% of the ordinary tokens; 80% <mask>, 10%
// random, 10% kept) and the shared training loop. The run folder gets metrics.jsonl,
// curves.svg, checkpoint/ (for --resume), model/ (the last weights) and, with dev data, best/
// (lowest dev masked-LM loss), both complete model folders: config.json, model.safetensors
// with the lm_head, and the input folder's tokenizer files.
//
// Masks: each training batch is masked with an Rng seeded by a hash of (seed, the batch's
// example indices in order). The loop's sampler state is checkpointed, so a resumed run draws
// the same batches and hence the same masks without any extra state; a batch that happens to
// repeat exactly (same examples, same order) would repeat its mask, which shuffled epochs make
// vanishingly rare. Dev examples are masked one by one with a fixed seed per example index,
// so every evaluation of a run scores the same masked tokens whatever the batching.
//
// The loss is the mean cross-entropy over the chosen positions, as RobertaForMaskedLM's with
// labels -100 elsewhere; only the chosen rows of the last hidden state go through the head
// (a gather first), which gives the same value and gradients without computing vocabulary
// logits for the ~85% of positions that the loss ignores.
import { join } from "node:path";
import { writeFolderAtomic } from "../formats/atomic.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { RobertaModel } from "../models/roberta.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { Rng } from "../nn/init.ts";
import { defaultNoDecay } from "../nn/optim.ts";
import { crossEntropy, indexSelect, noGrad, reshape, Tensor, tidy } from "../tensor/mod.ts";
import { readTrainState } from "../train/checkpoint.ts";
import { train, type TrainResult } from "../train/loop.ts";
import { writeCurves } from "../train/plot.ts";
import type { ProgressOptions } from "../train/progress.ts";
import { Examples, padBatch, type PaddedBatch } from "./examples.ts";
import { loadExamples, skippedText } from "./infusion.ts";
import { maskTokens, type MlmMasking } from "./mlm.ts";
import { PretrainError } from "./pretrain.ts";

export { PretrainError };

/** The maximum length when none is given (capped by the model's positions). */
export const DEFAULT_MAX_LENGTH = 128;

/** Tokenizer files copied from the input folder into model/ and best/, when present. */
const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
];

export interface MlmPretrainOptions {
  /** Model folder with an lm_head (as `model init` writes): config, weights, tokenizer. */
  model: string;
  /** `text`-schema corpus: Arrow file/stream, save_to_disk folder or DatasetDict. */
  corpus: string;
  /** Optional dev corpus (same schema), evaluated periodically; best/ keeps the best. */
  dev?: string;
  /** Split names when corpus/dev are DatasetDict folders. */
  corpusSplit?: string;
  devSplit?: string;
  out: string;
  /** Examples per optimizer step, in `accumulate` micro-batches. */
  batch: number;
  accumulate: number;
  lr: number;
  epochs: number;
  /** Optimizer steps; overrides epochs. */
  steps?: number;
  warmup: number;
  /** AdamW decoupled weight decay, not on biases and LayerNorm (RoBERTa: 0.01). */
  weightDecay: number;
  maxGradNorm: number;
  /** Tokens per example with <s> and </s>; default min(128, the model's positions). */
  maxLength?: number;
  /** Share of ordinary tokens chosen for the loss (0.15). */
  maskProb: number;
  seed: number;
  /** Steps between dev evaluations (default: once per epoch) and at the end. */
  evalEvery?: number;
  evalBatch?: number;
  checkpointEvery?: number;
  logEvery?: number;
  resume: boolean;
  progress?: ProgressOptions;
  stop?: () => boolean;
  /** Status lines (default: console.log). */
  say?: (line: string) => void;
}

export interface MlmPretrainResult extends TrainResult {
  /** Dev metrics (mlm_loss, mlm_accuracy, perplexity) of the final weights, if evaluated. */
  dev: Record<string, number> | null;
  modelDir: string;
  bestDir: string | null;
  maxLength: number;
}

/** Settings a resumed run must share with the run it continues. */
const FIXED = [
  "batch",
  "accumulate",
  "lr",
  "epochs",
  "steps",
  "warmup",
  "maxLength",
  "maskProb",
  "seed",
];

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
  /** [batch * seqLen]: original ids at the chosen positions, -100 elsewhere. */
  labels: Int32Array;
}

/**
 * A training batch of `indices`, masked with an Rng seeded by (seed, indices): the same call
 * gives the same mask, so a resumed run (same batches) reproduces every mask.
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
  return { batch: { ...b, inputIds: input }, labels };
}

/** Salt of the dev masks' seeds, so they differ from any training batch's. */
const DEV_SALT = 0x6d6c6d;

/** A dev batch: each example masked on its own with the seed of (seed, salt, its index). */
function devBatch(ex: Examples, indices: number[], m: MlmMasking, padId: number, seed: number) {
  const b = padBatch(ex, indices, padId);
  const labels = new Int32Array(b.inputIds.length);
  indices.forEach((i, row) => {
    const at = row * b.seqLen;
    const r = maskTokens(
      b.inputIds.subarray(at, at + b.seqLen),
      b.seqLen,
      m,
      new Rng(mixSeed(seed, [DEV_SALT, i])),
    );
    b.inputIds.set(r.input, at);
    labels.set(r.labels, at);
  });
  return { batch: b, labels };
}

/** Row indices and labels of the chosen positions. */
function chosen(labels: Int32Array): { rows: Int32Array; gold: Int32Array } {
  const rows: number[] = [], gold: number[] = [];
  labels.forEach((l, i) => {
    if (l >= 0) rows.push(i), gold.push(l);
  });
  return { rows: Int32Array.from(rows), gold: Int32Array.from(gold) };
}

/** Vocabulary logits [chosen, vocab] at the chosen positions of a masked batch. */
export function maskedLogits(
  model: RobertaModel,
  mb: MaskedBatch,
): { logits: Tensor; gold: Int32Array } {
  const { rows, gold } = chosen(mb.labels);
  if (rows.length === 0) throw new Error("a masked batch without chosen tokens");
  const states = model.forward(mb.batch);
  const last = states[states.length - 1];
  const flat = reshape(last, [mb.batch.batch * mb.batch.seqLen, model.dims.hidden]);
  const picked = indexSelect(flat, 0, i32(rows));
  return { logits: model.mlmLogits(picked), gold };
}

const i32 = (values: Int32Array) => Tensor.from(values, [values.length], "i32");

/** Mean cross-entropy over the chosen positions of a masked batch ([1] tensor). */
export function mlmLoss(model: RobertaModel, mb: MaskedBatch): Tensor {
  const { logits, gold } = maskedLogits(model, mb);
  return crossEntropy(logits, i32(gold));
}

/**
 * Dev masked-LM loss (mean over all chosen tokens), accuracy (argmax = original token) and
 * perplexity, with the fixed dev masks of `seed`. The model is put in eval mode and back.
 */
export async function evaluateMlm(
  model: RobertaModel,
  ex: Examples,
  m: MlmMasking,
  opts: { seed: number; padId: number; batchSize?: number },
): Promise<Record<string, number>> {
  const n = ex.length, size = opts.batchSize ?? 64;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    ex.ids(a).length - ex.ids(b).length
  );
  let sum = 0, right = 0, count = 0;
  const V = model.dims.vocab;
  const wasTraining = model.training;
  model.train(false);
  try {
    for (let i = 0; i < n; i += size) {
      const mb = devBatch(ex, order.slice(i, i + size), m, opts.padId, opts.seed);
      const out = tidy(() => noGrad(() => maskedLogits(model, mb)));
      let values: Float32Array;
      try {
        values = Float32Array.from(await out.logits.data());
      } finally {
        out.logits.dispose();
      }
      out.gold.forEach((g, r) => {
        const row = values.subarray(r * V, (r + 1) * V);
        let max = -Infinity, best = 0;
        for (let j = 0; j < V; j++) if (row[j] > max) max = row[j], best = j;
        let z = 0;
        for (let j = 0; j < V; j++) z += Math.exp(row[j] - max);
        sum += max + Math.log(z) - row[g];
        if (best === g) right++;
        count++;
      });
    }
  } finally {
    model.train(wasTraining);
  }
  const loss = count ? sum / count : 0;
  return { mlm_loss: loss, mlm_accuracy: count ? right / count : 0, perplexity: Math.exp(loss) };
}

/** Writes a complete model folder: the weights and config, and the input's tokenizer files. */
export async function saveModelFolder(
  dir: string,
  model: RobertaModel,
  tokenizerFrom: string,
): Promise<void> {
  await writeFolderAtomic(dir, async (tmp) => {
    await model.save(tmp);
    for (const f of TOKENIZER_FILES) {
      await Deno.copyFile(join(tokenizerFrom, f), join(tmp, f)).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
  });
}

/** Encodes a `text`-schema corpus into `<s> line </s>` examples, reporting what it left out. */
async function loadCorpus(
  tok: RobertaTokenizer,
  vocab: number,
  path: string,
  split: string | undefined,
  maxLength: number,
  say: (l: string) => void,
  progress?: ProgressOptions,
): Promise<Examples> {
  const ex = new Examples(vocab);
  let truncated = 0;
  const r = await loadExamples(
    path,
    "text",
    (row) => {
      if (row.text.trim() === "") return "empty text";
      const e = tok.encode(row.text, { maxLength });
      if (e.ids.length <= 2) return "no tokens";
      if (e.truncated > 0) truncated++;
      return { ids: e.ids };
    },
    ex,
    { split, progress },
  );
  const skipped = skippedText(r);
  say(
    `${path}: ${r.kept} examples, ${ex.tokenCount} tokens` +
      (truncated ? `, ${truncated} truncated to ${maxLength}` : "") +
      (skipped ? ` (${skipped})` : ""),
  );
  if (r.kept === 0) throw new PretrainError(`${path}: no usable examples`);
  return ex;
}

export async function mlmPretrain(o: MlmPretrainOptions): Promise<MlmPretrainResult> {
  const say = o.say ?? ((l: string) => console.log(l));
  if (o.batch % o.accumulate !== 0) {
    throw new PretrainError(
      `batch ${o.batch} does not split into ${o.accumulate} equal micro-batches`,
    );
  }
  if (!(o.maskProb > 0 && o.maskProb < 1)) {
    throw new PretrainError(`mask probability ${o.maskProb} must lie strictly between 0 and 1`);
  }
  const ckpt = join(o.out, "checkpoint");
  const prior = o.resume ? (await readTrainState(ckpt)).config : null;
  if (!o.resume && await Deno.stat(ckpt).then(() => true, () => false)) {
    throw new PretrainError(
      `${o.out} already holds a run; pass --resume to continue it, or pick another --out`,
    );
  }
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const model = await RobertaModel.load(o.model);
  try {
    if (!model.lm_head) {
      throw new PretrainError(
        `${o.model} has no masked-LM head (lm_head.* weights); masked-LM pretraining trains ` +
          `it with the encoder. Folders written by \`kadapter model init\` have one.`,
      );
    }
    const d = model.dims;
    const maxLength = o.maxLength ?? Math.min(DEFAULT_MAX_LENGTH, maxSequence(d));
    if (maxLength > maxSequence(d)) {
      throw new PretrainError(
        `max length ${maxLength} exceeds the model's ${maxSequence(d)} positions`,
      );
    }
    if (maxLength < 3) throw new PretrainError(`max length ${maxLength} leaves no tokens`);
    if (tok.vocabSize > d.vocab) {
      throw new PretrainError(
        `the tokenizer has ${tok.vocabSize} ids, the model's vocabulary ${d.vocab}`,
      );
    }
    const config: Record<string, unknown> = {
      task: "mlm",
      model: o.model,
      corpus: o.corpus,
      dev: o.dev ?? null,
      batch: o.batch,
      accumulate: o.accumulate,
      lr: o.lr,
      epochs: o.epochs,
      steps: o.steps ?? null,
      warmup: o.warmup,
      weightDecay: o.weightDecay,
      maxGradNorm: o.maxGradNorm,
      maxLength,
      maskProb: o.maskProb,
      seed: o.seed,
    };
    if (prior) {
      const changed = FIXED.filter((k) => JSON.stringify(prior[k]) !== JSON.stringify(config[k]));
      if (changed.length) {
        throw new PretrainError(
          `--resume: ${changed.map((k) => `${k} was ${prior[k]}, now ${config[k]}`).join("; ")}. ` +
            `A resumed run continues exactly only with the same settings.`,
        );
      }
    }
    const m = masking(tok, d.vocab, o.maskProb);
    const trainEx = await loadCorpus(
      tok,
      d.vocab,
      o.corpus,
      o.corpusSplit,
      maxLength,
      say,
      o.progress,
    );
    const devEx = o.dev
      ? await loadCorpus(tok, d.vocab, o.dev, o.devSplit, maxLength, say, o.progress)
      : null;
    if (trainEx.length < o.batch) {
      throw new PretrainError(
        `${trainEx.length} training examples are fewer than one batch (${o.batch})`,
      );
    }
    // Dropout follows --seed (a loaded model's stream would otherwise always start at 0).
    model.dropoutRng.seed = new Rng(o.seed).fork();
    model.dropoutRng.counter = 0;
    model.train(true);
    const micro = o.batch / o.accumulate, padId = d.padId;
    const stepsPerEpoch = Math.floor(trainEx.length / o.batch);
    const total = o.steps ?? o.epochs * stepsPerEpoch;
    if (o.warmup >= total) {
      say(`note: warmup (${o.warmup} steps) covers the whole run (${total} steps)`);
    }
    const evaluate = devEx
      ? () => evaluateMlm(model, devEx, m, { seed: o.seed, padId, batchSize: o.evalBatch })
      : undefined;
    const metricsPath = join(o.out, "metrics.jsonl"), plotPath = join(o.out, "curves.svg");
    const plot = () => writeCurves(metricsPath, plotPath, { title: "kadapter model pretrain" });
    let lastEval: { step: number; metrics: Record<string, number> } | null = null;
    say(
      `mlm: ${model.parameterCount().toLocaleString("en-US")} trainable parameters ` +
        `(${d.layers} layers, hidden ${d.hidden}, vocabulary ${d.vocab}); ${total} steps of ` +
        `${o.batch} examples, ${Math.round(o.maskProb * 100)}% of tokens masked`,
    );
    const result = await train<MaskedBatch>({
      params: model.namedParameters(),
      examples: trainEx.length,
      makeBatch: (indices) => maskedBatch(trainEx, indices, m, padId, o.seed),
      loss: (mb) => mlmLoss(model, mb),
      batchSize: micro,
      accumulate: o.accumulate,
      steps: total,
      lr: o.lr,
      warmup: o.warmup,
      weightDecay: o.weightDecay,
      maxGradNorm: o.maxGradNorm,
      noDecay: defaultNoDecay,
      seed: o.seed,
      dropout: [model.dropoutRng],
      out: o.out,
      checkpointEvery: o.checkpointEvery,
      logEvery: o.logEvery,
      evalEvery: o.evalEvery ?? stepsPerEpoch,
      evaluate,
      onEval: async (step, metrics) => {
        lastEval = { step, metrics };
        await plot();
      },
      saveBest: (dir) => saveModelFolder(dir, model, o.model),
      bestMetric: "mlm_loss",
      higherIsBetter: false,
      resume: o.resume,
      config,
      stop: o.stop,
      progress: o.progress,
    });
    const le = lastEval as { step: number; metrics: Record<string, number> } | null;
    const dev = le && le.step === result.step ? le.metrics : null;
    const modelDir = join(o.out, "model");
    model.train(false);
    await saveModelFolder(modelDir, model, o.model);
    await plot();
    return {
      ...result,
      dev,
      modelDir,
      bestDir: result.best ? join(o.out, "best") : null,
      maxLength,
    };
  } finally {
    model.dispose();
  }
}

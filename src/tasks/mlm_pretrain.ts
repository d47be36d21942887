// Masked-LM pretraining of a whole RoBERTa model folder (`kadapter model pretrain`): the model
// and its lm_head trainable, a `text`-schema corpus encoded once (`<s> line </s>`, truncated to
// the maximum length), RoBERTa's dynamic masking (15% of the ordinary tokens; 80% <mask>, 10%
// random, 10% kept) and the shared training loop. The run folder gets metrics.jsonl,
// curves.svg, checkpoint/ (for --resume), model/ (the last weights) and, with dev data, best/
// (lowest dev masked-LM loss), both complete model folders: config.json, model.safetensors
// with the lm_head, and the input folder's tokenizer files.
//
// Masks are derived from (seed, the batch's examples), so a resume reproduces them (mlm.ts).
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
import { crossEntropy, indexSelect, noGrad, reshape, Tensor, tidy } from "../tensor/mod.ts";
import { train, type TrainResult } from "../train/loop.ts";
import {
  EvalTracker,
  loopOptions,
  openRun,
  runConfig,
  RunError,
  type RunSettings,
  sayer,
} from "../train/run.ts";
import type { Examples } from "./examples.ts";
import {
  devMaskedBatch,
  loadCorpus,
  type MaskedBatch,
  maskedBatch,
  maskedScores,
  masking,
  type MlmMasking,
} from "./mlm.ts";

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

export interface MlmPretrainOptions extends RunSettings {
  /** Model folder with an lm_head (as `model init` writes): config, weights, tokenizer. */
  model: string;
  /** `text`-schema corpus: Arrow file/stream, save_to_disk folder or DatasetDict. */
  corpus: string;
  /** Optional dev corpus (same schema), evaluated periodically; best/ keeps the best. */
  dev?: string;
  /** Split names when corpus/dev are DatasetDict folders. */
  corpusSplit?: string;
  devSplit?: string;
  /** Tokens per example with <s> and </s>; default min(128, the model's positions). */
  maxLength?: number;
  /** Share of ordinary tokens chosen for the loss (0.15). */
  maskProb: number;
  evalBatch?: number;
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

/** Vocabulary logits [chosen, vocab] at the chosen positions of a masked batch. */
export function maskedLogits(model: RobertaModel, mb: MaskedBatch): Tensor {
  if (mb.rows.length === 0) throw new Error("a masked batch without chosen tokens");
  const states = model.forward(mb.batch);
  const last = states[states.length - 1];
  const flat = reshape(last, [mb.batch.batch * mb.batch.seqLen, model.dims.hidden]);
  return model.mlmLogits(indexSelect(flat, 0, i32(mb.rows)));
}

const i32 = (values: Int32Array) => Tensor.from(values, [values.length], "i32");

/** Mean cross-entropy over the chosen positions of a masked batch ([1] tensor). */
export function mlmLoss(model: RobertaModel, mb: MaskedBatch): Tensor {
  return crossEntropy(maskedLogits(model, mb), i32(mb.gold));
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
  const wasTraining = model.training;
  model.train(false);
  try {
    for (let i = 0; i < n; i += size) {
      const mb = devMaskedBatch(ex, order.slice(i, i + size), m, opts.padId, opts.seed);
      if (mb.rows.length === 0) continue;
      const logits = tidy(() => noGrad(() => maskedLogits(model, mb)));
      try {
        const r = await maskedScores(logits, mb.gold);
        sum += r.lossSum;
        right += r.correct;
        count += mb.rows.length;
      } finally {
        logits.dispose();
      }
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

export async function mlmPretrain(o: MlmPretrainOptions): Promise<MlmPretrainResult> {
  const say = sayer(o);
  if (!(o.maskProb > 0 && o.maskProb < 1)) {
    throw new RunError(`mask probability ${o.maskProb} must lie strictly between 0 and 1`);
  }
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const model = await RobertaModel.load(o.model);
  try {
    if (!model.lm_head) {
      throw new RunError(
        `${o.model} has no masked-LM head (lm_head.* weights); masked-LM pretraining trains ` +
          `it with the encoder. Folders written by \`kadapter model init\` have one.`,
      );
    }
    const d = model.dims;
    const maxLength = o.maxLength ?? Math.min(DEFAULT_MAX_LENGTH, maxSequence(d));
    if (maxLength > maxSequence(d)) {
      throw new RunError(
        `max length ${maxLength} exceeds the model's ${maxSequence(d)} positions`,
      );
    }
    if (maxLength < 3) throw new RunError(`max length ${maxLength} leaves no tokens`);
    if (tok.vocabSize > d.vocab) {
      throw new RunError(
        `the tokenizer has ${tok.vocabSize} ids, the model's vocabulary ${d.vocab}`,
      );
    }
    const config: Record<string, unknown> = {
      task: "mlm",
      model: o.model,
      corpus: o.corpus,
      dev: o.dev ?? null,
      ...runConfig(o),
      maxLength,
      maskProb: o.maskProb,
    };
    await openRun(o.out, o.resume, config, FIXED);
    const m = masking(tok, d.vocab, o.maskProb);
    const corpus = (path: string, split?: string) =>
      loadCorpus(tok, d.vocab, path, { maxLength, split, progress: o.progress, say });
    const trainEx = await corpus(o.corpus, o.corpusSplit);
    const devEx = o.dev ? await corpus(o.dev, o.devSplit) : null;
    // Dropout follows --seed (a loaded model's stream would otherwise always start at 0).
    model.dropoutRng.seed = new Rng(o.seed).fork();
    model.dropoutRng.counter = 0;
    model.train(true);
    const padId = d.padId;
    const shared = loopOptions(o, trainEx.length), total = shared.steps;
    const evaluate = devEx
      ? () => evaluateMlm(model, devEx, m, { seed: o.seed, padId, batchSize: o.evalBatch })
      : undefined;
    const evals = new EvalTracker(o.out, "kadapter model pretrain");
    say(
      `mlm: ${model.parameterCount().toLocaleString("en-US")} trainable parameters ` +
        `(${d.layers} layers, hidden ${d.hidden}, vocabulary ${d.vocab}); ${total} steps of ` +
        `${o.batch} examples, ${Math.round(o.maskProb * 100)}% of tokens masked`,
    );
    const result = await train<MaskedBatch>({
      ...shared,
      params: model.namedParameters(),
      makeBatch: (indices) => maskedBatch(trainEx, indices, m, padId, o.seed),
      loss: (mb) => mlmLoss(model, mb),
      dropout: [model.dropoutRng],
      evaluate,
      onEval: evals.onEval,
      saveBest: (dir) => saveModelFolder(dir, model, o.model),
      bestMetric: "mlm_loss",
      higherIsBetter: false,
      config,
    });
    const dev = evals.at(result.step);
    const modelDir = join(o.out, "model");
    model.train(false);
    await saveModelFolder(modelDir, model, o.model);
    await evals.plot();
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

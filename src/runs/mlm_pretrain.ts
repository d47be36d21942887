// Masked-LM pretraining of a whole RoBERTa model folder (`kadapter model pretrain`): the model
// and its lm_head trainable, a `text`-schema corpus encoded once (`<s> line </s>`, truncated to
// the maximum length), RoBERTa's dynamic masking (15% of the ordinary tokens; 80% <mask>, 10%
// random, 10% kept; tasks/mlm_task.ts) and the one runner (train/runner.ts). The run folder
// gets metrics.jsonl, curves.svg, checkpoint/ (for --resume), model/ (the last weights) and,
// with dev data, best/ (lowest dev masked-LM loss), both complete model folders: config.json,
// model.safetensors with the lm_head, and the input folder's tokenizer files.
import { writeFolderAtomic } from "../formats/atomic.ts";
import { copyTokenizerFiles, RobertaTokenizer } from "../formats/tokenizer.ts";
import { checkMaxLength, checkTokenizer } from "../models/fit.ts";
import { RobertaModel } from "../models/roberta.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { Rng } from "../nn/init.ts";
import { loadCorpus, masking } from "../tasks/mlm.ts";
import { mlmTask } from "../tasks/mlm_task.ts";
import { runConfig, RunError, type RunSettings, sayer } from "../train/run.ts";
import { type Job, type RunOutcome, runTraining } from "../train/runner.ts";

/** The maximum length when none is given (capped by the model's positions). */
export const DEFAULT_MAX_LENGTH = 128;

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

export interface MlmPretrainResult extends RunOutcome {
  modelDir: string;
  maxLength: number;
}

/** Writes a complete model folder: the weights and config, and the input's tokenizer files. */
export async function saveModelFolder(
  dir: string,
  model: RobertaModel,
  tokenizerFrom: string,
): Promise<void> {
  await writeFolderAtomic(dir, async (tmp) => {
    await model.save(tmp);
    await copyTokenizerFiles(tokenizerFrom, tmp);
  });
}

export async function mlmPretrain(o: MlmPretrainOptions): Promise<MlmPretrainResult> {
  if (!(o.maskProb > 0 && o.maskProb < 1)) {
    throw new RunError(`mask probability ${o.maskProb} must lie strictly between 0 and 1`);
  }
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const model = await RobertaModel.load(o.model);
  let owned = true;
  try {
    if (!model.lm_head) {
      throw new RunError(
        `${o.model} has no masked-LM head (lm_head.* weights); masked-LM pretraining trains ` +
          `it with the encoder. Folders written by \`kadapter model init\` have one.`,
      );
    }
    const d = model.dims;
    const maxLength = o.maxLength ?? Math.min(DEFAULT_MAX_LENGTH, maxSequence(d));
    checkMaxLength(maxLength, d);
    if (maxLength < 3) throw new RunError(`max length ${maxLength} leaves no tokens`);
    checkTokenizer(tok, d, o.model);
    const config: Record<string, unknown> = {
      task: "mlm",
      model: o.model,
      corpus: o.corpus,
      dev: o.dev ?? null,
      ...runConfig(o),
      maxLength,
      maskProb: o.maskProb,
    };
    const m = masking(tok, d.vocab, o.maskProb);
    const task = mlmTask({ tok, maxLength, vocab: d.vocab, padId: d.padId }, m, o.seed);
    const r = await runTraining({
      settings: o,
      config,
      title: "kadapter model pretrain",
      output: "model",
      build: async () => {
        owned = false;
        try {
          return await mlmJob(o, model, tok, task, maxLength);
        } catch (e) {
          model.dispose();
          throw e;
        }
      },
    });
    return { ...r, modelDir: r.outputDir, maxLength };
  } finally {
    if (owned) model.dispose();
  }
}

/** The model, corpus and task as the runner's job. */
async function mlmJob(
  o: MlmPretrainOptions,
  model: RobertaModel,
  tok: RobertaTokenizer,
  task: ReturnType<typeof mlmTask>,
  maxLength: number,
): Promise<Job> {
  const say = sayer(o), d = model.dims;
  const corpus = (path: string, split?: string) =>
    loadCorpus(tok, d.vocab, path, { maxLength, split, progress: o.progress, say });
  const trainEx = await corpus(o.corpus, o.corpusSplit);
  const devEx = o.dev ? await corpus(o.dev, o.devSplit) : null;
  // Dropout follows --seed (a loaded model's stream would otherwise always start at 0).
  model.dropoutRng.seed = new Rng(o.seed).fork();
  model.dropoutRng.counter = 0;
  model.train(true);
  return {
    trainSize: trainEx.ex.length,
    loss: (indices) => task.loss(model, trainEx.ex, indices),
    params: model.namedParameters(),
    dropout: [model.dropoutRng],
    evaluate: devEx
      ? async () => (await task.evaluate(model, devEx, o.evalBatch ?? 64)).metrics
      : undefined,
    bestMetric: task.bestMetric,
    lowerIsBetter: task.lowerIsBetter,
    describe: (total) =>
      `mlm: ${model.parameterCount().toLocaleString("en-US")} trainable parameters ` +
      `(${d.layers} layers, hidden ${d.hidden}, vocabulary ${d.vocab}); ${total} steps ` +
      `of ${o.batch} examples, ${Math.round(o.maskProb * 100)}% of tokens masked`,
    save: (dir) => saveModelFolder(dir, model, o.model),
    dispose: () => model.dispose(),
  };
}

// `kadapter probe train-mlm`: trains the MLM layer (tasks/probe_mlm_layer.ts) on raw text with
// the encoder and adapters frozen, RoBERTa's masking (tasks/mlm.ts) and the one runner
// (train/runner.ts); the loss is the cross-entropy at the masked positions. The run folder
// gets metrics.jsonl, curves.svg, checkpoint/ (for --resume), mlm/ (the last weights) and, with
// dev data, best/ (lowest dev masked-token loss), both MLM layer folders (probe_mlm_folder.ts).
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { AdapterFeatures } from "../models/adapter_features.ts";
import { type BaseModelInfo, baseModelInfo } from "../models/encoder_identity.ts";
import { checkMaxLength, checkTokenizer } from "../models/fit.ts";
import { loadAdapters, type NamedAdapter } from "../models/named_adapters.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { loadCorpus, masking } from "../tasks/mlm.ts";
import { saveProbeMlm } from "../tasks/probe_mlm_folder.ts";
import { type ProbeMlm, ProbeMlmLayer, probeMlmTask } from "../tasks/probe_mlm_layer.ts";
import { runConfig, type RunSettings, sayer } from "../train/run.ts";
import { type Job, type RunOutcome, runTraining } from "../train/runner.ts";

export interface ProbeMlmOptions extends RunSettings {
  /** Model folder of the frozen encoder (config.json, weights, tokenizer). */
  model: string;
  /** The adapter folders, in feature order; none: the encoder's last hidden state alone. */
  adapters: { name: string; dir: string }[];
  /** Raw text (`text` schema). */
  corpus: string;
  dev?: string;
  /** Split names when corpus/dev are DatasetDict folders. */
  split?: string;
  devSplit?: string;
  /** Tokens per example with <s> and </s>; longer lines are truncated. */
  maxLength: number;
  /** Share of ordinary tokens masked (0.15). */
  maskProbability?: number;
  evalBatch: number;
  limit?: number;
  devLimit?: number;
  f16: boolean;
  /** --force: use adapters trained on another vocabulary or of another kind, with a warning. */
  force?: boolean;
}

export interface ProbeMlmResult extends RunOutcome {
  mlmDir: string;
}

/** `kadapter probe train-mlm`: trains the MLM layer on a frozen encoder and adapters. */
export async function trainProbeMlm(o: ProbeMlmOptions): Promise<ProbeMlmResult> {
  const probability = o.maskProbability ?? 0.15;
  const config: Record<string, unknown> = {
    model: o.model,
    adapters: o.adapters.map((a) => `${a.name}=${a.dir}`),
    corpus: o.corpus,
    dev: o.dev ?? null,
    ...runConfig(o),
    maxLength: o.maxLength,
    maskProbability: probability,
    limit: o.limit ?? null,
    f16: o.f16,
  };
  const r = await runTraining({
    settings: o,
    config,
    title: "kadapter probe train-mlm",
    output: "mlm",
    build: async () => {
      const tok = await RobertaTokenizer.fromFolder(o.model);
      const encoder = await FrozenRoberta.fromFolder(o.model, { f16: o.f16, lmHead: false });
      let adapters: NamedAdapter[] = [];
      try {
        checkMaxLength(o.maxLength, encoder.dims);
        checkTokenizer(tok, encoder.dims, o.model);
        const base = baseModelInfo(encoder.dims, tok);
        adapters = await loadAdapters(o.adapters, encoder, {
          base,
          force: o.force,
          say: sayer(o),
        });
        return await probeJob(o, config, { tok, base }, encoder, adapters, probability);
      } catch (e) {
        adapters.forEach((a) => a.adapter.dispose());
        encoder.dispose();
        throw e;
      }
    },
  });
  return { ...r, mlmDir: r.outputDir };
}

async function probeJob(
  o: ProbeMlmOptions,
  config: Record<string, unknown>,
  { tok, base }: { tok: RobertaTokenizer; base: BaseModelInfo },
  encoder: FrozenRoberta,
  adapters: NamedAdapter[],
  probability: number,
): Promise<Job> {
  const say = sayer(o), d = encoder.dims;
  const task = probeMlmTask(
    { tok, maxLength: o.maxLength, vocab: d.vocab, padId: d.padId },
    masking(tok, tok.vocabSize, probability),
    o.seed,
  );
  const load = (path: string, split: string | undefined, limit?: number) =>
    loadCorpus(tok, d.vocab, path, {
      maxLength: o.maxLength,
      split,
      limit,
      progress: o.progress,
      say,
    });
  const trainData = await load(o.corpus, o.split, o.limit);
  const devData = o.dev ? await load(o.dev, o.devSplit, o.devLimit) : null;
  const layer = new ProbeMlmLayer(d.hidden, adapters.length, d.vocab, o.seed);
  const p: ProbeMlm = {
    features: new AdapterFeatures(encoder, adapters.map((a) => a.adapter), o.maxLength),
    layer,
  };
  return {
    trainSize: trainData.ex.length,
    loss: (indices) => task.loss(p, trainData.ex, indices),
    params: layer.namedParameters(),
    dropout: [],
    evaluate: devData
      ? async () => (await task.evaluate(p, devData, o.evalBatch)).metrics
      : undefined,
    bestMetric: task.bestMetric,
    lowerIsBetter: task.lowerIsBetter,
    describe: (total) =>
      `MLM layer: ${layer.parameterCount().toLocaleString("en-US")} trainable parameters over ` +
      (adapters.length === 0
        ? "the last hidden state"
        : `cat(last, ${adapters.map((a) => a.name).join(", ")})`) +
      `; encoder (${d.layers} layers, ` +
      `${encoder.dtype}) and adapters frozen; ${total} steps of ${o.batch} examples`,
    save: (dir, at) =>
      saveProbeMlm(dir, layer, {
        base,
        adapters: adapters.map((a) => a.summary),
        training: { ...config, step: at.step, total_steps: at.totalSteps, dev_metrics: at.dev },
      }),
    dispose: () => {
      layer.dispose();
      adapters.forEach((a) => a.adapter.dispose());
      encoder.dispose();
    },
  };
}

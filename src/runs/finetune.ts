// Downstream fine-tuning end to end (`kadapter finetune TASK`, reference section 5): a
// trainable RoBERTa from a model folder, any subset of frozen knowledge adapters (none: the
// plain RoBERTa baseline; freshly initialised ones: the "w/o knowledge" ablation), their
// fusion (concat or add) and the task's head, trained by the one runner (train/runner.ts).
// The run folder gets metrics.jsonl, curves.svg, checkpoint/ (for --resume), best/ (best dev
// score) and model/ (the last weights); best/ and model/ are fine-tuned model folders
// (tasks/finetuned.ts).
import type { SchemaName } from "../formats/schemas.ts";
import type { Tokenization } from "../formats/tokenization.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { type AdapterConfig, adapterConfig, newAdapterShape } from "../models/adapter_config.ts";
import { type AdapterMeta, loadAdapter } from "../models/adapter_folder.ts";
import { baseModelInfo, checkAdapterFits } from "../models/encoder_identity.ts";
import { checkMaxLength } from "../models/fit.ts";
import { type FusionMode, KAdapterEncoder } from "../models/fusion.ts";
import { AdapterModel } from "../models/kadapter.ts";
import { RobertaModel } from "../models/roberta.ts";
import { Rng } from "../nn/init.ts";
import type { Tensor } from "../tensor/mod.ts";
import { numel } from "../tensor/tensor.ts";
import type { FinetuneTask, TaskHead, TaskSettings } from "../tasks/finetune_task.ts";
import { finetuneTask } from "../tasks/finetune_tasks.ts";
import { FINETUNE_FORMAT, type FinetuneConfig, FinetunedModel } from "../tasks/finetuned.ts";
import { alteredText, loadSplit, skippedText, type Split, type Store } from "../tasks/task.ts";
import {
  type Prior,
  priorStrings,
  runConfig,
  RunError,
  type RunSettings,
  sayer,
} from "../train/run.ts";
import { type Job, type RunOutcome, runTraining } from "../train/runner.ts";

export interface FinetuneOptions extends RunSettings {
  task: string;
  settings?: TaskSettings;
  /** Model folder of the encoder (config.json, weights, tokenizer). */
  model: string;
  /** Adapter folders in fusion order; [] for plain RoBERTa. */
  adapters: { name: string; dir: string }[];
  /**
   * The "w/o knowledge" ablation: each listed adapter gets its folder's shape but fresh
   * weights; with no adapter listed, one adapter "untrained" of the default shape
   * (`untrainedConfig`, default: newAdapterShape, the released code's scaled to the encoder).
   */
  untrainedAdapter: boolean;
  untrainedConfig?: Partial<AdapterConfig>;
  fusion: FusionMode;
  freezeEncoder: boolean;
  trainAdapters: boolean;
  /** Recompute the encoder layers' activations in backward (activation checkpointing). */
  recompute?: boolean;
  train: string;
  dev?: string;
  test?: string;
  trainSplit?: string;
  devSplit?: string;
  testSplit?: string;
  /** Default: the task's. */
  maxLength?: number;
  /** How the data becomes ids (recorded in finetune_config.json). */
  tokenization: Tokenization;
  /** Head dropout (hidden_dropout_prob). */
  headDropout: number;
  evalBatch: number;
  limit?: number;
  devLimit?: number;
  /** --force: use adapters trained on another vocabulary or of another kind, with a warning. */
  force?: boolean;
}

export interface FinetuneResult extends RunOutcome {
  test: Record<string, number> | null;
  modelDir: string;
  /** Predictions of the final model on dev (in row order), for checks. */
  devPredictions: Record<string, unknown>[] | null;
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const settings = o.settings ?? {};
  const some = finetuneTask(o.task, settings);
  if (o.adapters.length === 0 && o.untrainedAdapter === false && o.trainAdapters) {
    sayer(o)("note: --train-adapters has no adapter to train");
  }
  const maxLength = o.maxLength ?? some.maxLength;
  const config: Record<string, unknown> = {
    task: o.task,
    settings,
    model: o.model,
    adapters: o.adapters.map((a) => a.name),
    adapterDirs: o.adapters.map((a) => a.dir),
    untrainedAdapter: o.untrainedAdapter,
    fusion: o.fusion,
    freezeEncoder: o.freezeEncoder,
    trainAdapters: o.trainAdapters,
    // Recorded, not fixed: a run may resume with or without it (same results up to rounding).
    recompute: o.recompute === true,
    train: o.train,
    dev: o.dev ?? null,
    test: o.test ?? null,
    ...runConfig(o),
    maxLength,
    tokenization: o.tokenization,
    headDropout: o.headDropout,
    limit: o.limit ?? null,
    trainSplit: o.trainSplit ?? null,
    untrainedConfig: o.untrainedConfig ?? null,
  };
  const extras: {
    test: Record<string, number> | null;
    devPredictions: Record<string, unknown>[] | null;
  } = {
    test: null,
    devPredictions: null,
  };
  const r = await runTraining({
    settings: o,
    config,
    title: `kadapter finetune ${o.task}`,
    output: "model",
    build: (prior) =>
      some.use<Promise<Job>>((kind) => finetuneJob(kind, o, config, maxLength, prior, extras)),
  });
  return {
    ...r,
    test: extras.test,
    modelDir: r.outputDir,
    devPredictions: extras.devPredictions,
  };
}

/**
 * The adapters in fusion order: loaded and checked against the encoder (checkAdapterFits), or
 * fresh ones of the same shape (the ablation: only the folder's shape is used).
 */
async function adaptersFor(o: FinetuneOptions, roberta: RobertaModel, tok: RobertaTokenizer) {
  const d = roberta.dims, base = { hidden: d.hidden, layers: d.layers };
  const adapters: [string, AdapterModel][] = [], meta = new Map<string, AdapterMeta>();
  const fit = o.untrainedAdapter || o.adapters.length === 0 ? null : {
    base: baseModelInfo(d, tok),
    tokenization: o.tokenization,
    force: o.force,
    say: sayer(o),
  };
  try {
    for (const [i, a] of o.adapters.entries()) {
      const r = await loadAdapter(a.dir, base);
      if (fit === null) {
        r.adapter.dispose();
        adapters.push([a.name, new AdapterModel(r.config, o.seed + 100 + i)]);
      } else {
        adapters.push([a.name, r.adapter]);
        meta.set(a.name, r.meta);
        checkAdapterFits(a.name, a.dir, r.meta, fit);
      }
    }
    if (o.untrainedAdapter && o.adapters.length === 0) {
      const c = adapterConfig(d.hidden, d.layers, newAdapterShape(d.hidden, o.untrainedConfig));
      adapters.push(["untrained", new AdapterModel(c, o.seed + 100)]);
    }
  } catch (e) {
    for (const [, a] of adapters) a.dispose();
    throw e;
  }
  return { adapters, meta };
}

async function finetuneJob<S extends SchemaName, E, St extends Store<E>, H extends TaskHead>(
  kind: FinetuneTask<S, E, St, H>,
  o: FinetuneOptions,
  config: Record<string, unknown>,
  maxLength: number,
  prior: Prior | null,
  extras: { test: Record<string, number> | null; devPredictions: Record<string, unknown>[] | null },
): Promise<Job> {
  const say = sayer(o);
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const roberta = await RobertaModel.load(o.model, { lmHead: false, recompute: o.recompute });
  const d = roberta.dims;
  let adapters: [string, AdapterModel][] = [];
  let model: FinetunedModel<S, E, St, H> | null = null;
  try {
    checkMaxLength(maxLength, d);
    const a = await adaptersFor(o, roberta, tok);
    adapters = a.adapters;
    const labels = priorStrings(prior, "labels") ??
      await kind.labels(o.train, o.trainSplit);
    config.labels = labels;
    if (labels.length === 0) throw new RunError(`${o.train}: no labels`);
    const task = kind.task(
      { tok, maxLength, vocab: d.vocab, padId: d.padId, tokenization: o.tokenization },
      labels,
    );
    const load = async (path: string, split?: string, limit?: number, train = false) => {
      const s = await loadSplit(task, path, { split, limit, train, progress: o.progress });
      say(describe(path, s));
      if (s.ex.length === 0) throw new RunError(`${path}: no usable examples`);
      return s;
    };
    const trainData = await load(o.train, o.trainSplit, o.limit, true);
    const trainSize = task.trainSize?.(trainData.ex) ?? trainData.ex.length;
    const devData = o.dev ? await load(o.dev, o.devSplit, o.devLimit) : null;
    const testData = o.test ? await load(o.test, o.testSplit) : null;
    const enc = new KAdapterEncoder(roberta, adapters, {
      mode: o.fusion,
      seed: o.seed,
      freezeEncoder: o.freezeEncoder,
      trainAdapters: o.trainAdapters,
      padTo: maxLength,
    });
    adapters = []; // owned by enc now
    const head = kind.head(d.hidden, labels.length, o.headDropout, o.seed + 1);
    const fc: FinetuneConfig = {
      format: FINETUNE_FORMAT,
      task: kind.name,
      settings: o.settings ?? {},
      labels,
      fusion: o.fusion,
      adapters: [...enc.adapters].map(([name, a]) => ({
        name,
        untrained: o.untrainedAdapter,
        config: a.config,
      })),
      freezeEncoder: o.freezeEncoder,
      trainAdapters: o.trainAdapters,
      maxLength,
      tokenization: o.tokenization,
      head: { hidden: d.hidden, labels: labels.length, dropout: o.headDropout },
      training: {},
    };
    const m = model = new FinetunedModel(kind, fc, enc, head, tok, a.meta);
    // Dropout follows --seed (a loaded model's stream would otherwise always start at 0).
    roberta.dropoutRng.seed = new Rng(o.seed).fork();
    roberta.dropoutRng.counter = 0;
    enc.train(true);
    head.train(true);
    const params = [
      ...enc.trainableParameters(),
      ...head.namedParameters().map(([n, t]) => [`head.${n}`, t] as [string, Tensor]),
    ];
    const trainable = params.reduce((s, [, t]) => s + numel(t.shape), 0);
    const names = fc.adapters.map((a) => a.name).join("+") || "none";
    const training = (step: number, total: number, dev: Record<string, number> | null) => ({
      ...config,
      step,
      total_steps: total,
      dev_metrics: dev,
    });
    return {
      trainSize,
      loss: (indices) => m.task.loss(m.model, trainData.ex, indices),
      params,
      dropout: [
        roberta.dropoutRng,
        head.dropoutRng,
        ...(o.trainAdapters ? [...enc.adapters.values()].map((a) => a.dropoutRng) : []),
      ],
      evaluate: devData ? async () => (await m.run(devData, o.evalBatch)).metrics : undefined,
      bestMetric: task.bestMetric,
      describe: (total) =>
        `${kind.name}: ${trainable.toLocaleString("en-US")} trainable parameters (encoder ` +
        `${o.freezeEncoder ? "frozen" : "trained"}, adapters ${names}` +
        `${o.untrainedAdapter ? " untrained" : ""} ${o.trainAdapters ? "trained" : "frozen"}, ` +
        `fusion ${o.fusion}); ${labels.length} labels; ${total} steps of ${o.batch} examples`,
      save: (dir, at, extra = {}) =>
        m.save(dir, o.model, { ...training(at.step, at.totalSteps, at.dev), ...extra }),
      finish: async (result, dev) => {
        if (result.interrupted) return { extra: { test_metrics: null } };
        if (devData) {
          const r = await m.run(devData, o.evalBatch);
          extras.devPredictions = r.predictions;
          dev ??= r.metrics;
        }
        if (testData) {
          const test = extras.test = (await m.run(testData, o.evalBatch)).metrics;
          say(
            `test (final weights): ` +
              Object.entries(test).map(([k, x]) => `${k} ${x.toFixed(4)}`).join(", "),
          );
        }
        return { dev, extra: { test_metrics: extras.test } };
      },
      dispose: () => m.dispose(),
    };
  } catch (e) {
    if (model) model.dispose();
    else {
      for (const [, a] of adapters) a.dispose();
      roberta.dispose();
    }
    throw e;
  }
}

function describe(path: string, s: Split<{ length: number }>): string {
  const skipped = skippedText(s.report), altered = alteredText(s.report);
  const dropped = [...s.dropped].map(([l, k]) => `${k} ${l}`).join(", ");
  return `${path}: ${s.report.kept} of ${s.report.rows} rows used, ${s.ex.length} examples` +
    (skipped ? ` (${skipped})` : "") + (altered ? `; ${altered}` : "") +
    (dropped ? `; unknown labels left out: ${dropped}` : "");
}

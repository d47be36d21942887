// Knowledge infusion end to end (`kadapter train fac|lin`): the frozen encoder from a model
// folder, a new adapter model and the task's head, the Arrow data encoded once, then the one
// runner (train/runner.ts). The run folder gets metrics.jsonl, curves.svg, checkpoint/ (for
// --resume), best/ (best dev score) and adapter/ (the last weights), the latter two as
// adapter folders (adapter_config.json + adapter.safetensors, the head beside them).
import { join } from "node:path";
import type { Tokenization } from "../formats/tokenization.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import type { SchemaName } from "../formats/schemas.ts";
import { type AdapterConfig, adapterConfig, newAdapterShape } from "../models/adapter_config.ts";
import { saveAdapterFolder } from "../models/adapter_folder.ts";
import { type BaseModelInfo, baseModelInfo } from "../models/encoder_identity.ts";
import { AdapterModel } from "../models/kadapter.ts";
import { FacHead, type HeadConfig, LinHead } from "../models/kadapter_heads.ts";
import { checkMaxLength } from "../models/fit.ts";
import { readsPadding } from "../models/released_layout.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import type { Example, Examples } from "../tasks/examples.ts";
import { facTask, relationSet } from "../tasks/fac.ts";
import { type Infused, InfusionModel } from "../tasks/infusion.ts";
import { cacheLayout, cacheStates } from "../tasks/infusion_cache.ts";
import { type LinLoss, linTask } from "../tasks/lin.ts";
import { type Encoding, loadSplit, skippedText, type Task } from "../tasks/task.ts";
import { priorStrings, runConfig, RunError, type RunSettings, sayer } from "../train/run.ts";
import { type Job, type RunOutcome, runTraining } from "../train/runner.ts";
import {
  cacheBytes,
  cachedTokens,
  type CacheDtype,
  type CacheLayout,
  megabytes,
  memoryLimit,
} from "../train/feature_cache.ts";

export type InfusionTask = "fac" | "lin";

export interface InfuseOptions extends RunSettings {
  task: InfusionTask;
  /** Model folder of the frozen encoder (config.json, weights, tokenizer). */
  model: string;
  train: string;
  dev?: string;
  /** Split names when train/dev are DatasetDict folders. */
  trainSplit?: string;
  devSplit?: string;
  maxLength: number;
  /** How the data becomes ids (recorded in the adapter folder). */
  tokenization: Tokenization;
  /** Adapter shape and behaviour over the released code's defaults. */
  adapter: Partial<AdapterConfig>;
  /** Head dropout (hidden_dropout_prob). */
  headDropout: number;
  /** lin only. */
  loss: LinLoss;
  evalBatch: number;
  /** Use only the first N rows of train / dev. */
  limit?: number;
  devLimit?: number;
  f16: boolean;
  /** The adapter's name in its folder (default: the task). */
  name?: string;
  /**
   * Compute the frozen encoder's states of the train (and dev) examples once, kept in memory
   * or in files under out/feature_cache/ (default "off": the encoder runs every step).
   */
  cacheFeatures?: CacheMode;
  /** How the cache stores the states (default f16: half the size, within f16 rounding). */
  cacheDtype?: CacheDtype;
  /** Bytes a memory cache may take (default: half the memory available, or 2 GB). */
  cacheLimit?: number;
}

export type CacheMode = "off" | "memory" | "disk";

export interface InfuseResult extends RunOutcome {
  adapterDir: string;
}

/** fac or lin with its head: the two differ only in these. */
interface Infusion<S extends SchemaName, H extends FacHead | LinHead> {
  task: Task<S, Example, Examples, Infused<H>>;
  labels: string[] | null;
  /** The head's output width: relations (fac) or positions (lin). */
  outputs: number;
  head(c: HeadConfig, seed: number): H;
}

export async function infuse(o: InfuseOptions): Promise<InfuseResult> {
  const config: Record<string, unknown> = {
    task: o.task,
    model: o.model,
    train: o.train,
    dev: o.dev ?? null,
    ...runConfig(o),
    maxLength: o.maxLength,
    tokenization: o.tokenization,
    loss: o.task === "lin" ? o.loss : null,
    limit: o.limit ?? null,
    adapter: o.adapter,
    headDropout: o.headDropout,
    trainSplit: o.trainSplit ?? null,
    f16: o.f16,
    // What changes the numbers (f16 rounding) stays on --resume; where it is kept may change.
    featureCache: (o.cacheFeatures ?? "off") === "off" ? "off" : o.cacheDtype ?? "f16",
    featureCacheStorage: (o.cacheFeatures ?? "off") === "off" ? null : o.cacheFeatures,
  };
  const r = await runTraining({
    settings: o,
    config,
    title: `kadapter train ${o.task}`,
    output: "adapter",
    build: async (prior) => {
      const tok = await RobertaTokenizer.fromFolder(o.model);
      const encoder = await FrozenRoberta.fromFolder(o.model, { f16: o.f16, lmHead: false });
      try {
        const d = encoder.dims;
        checkMaxLength(o.maxLength, d);
        const base = baseModelInfo(d, tok);
        const c: Encoding = {
          tok,
          maxLength: o.maxLength,
          vocab: d.vocab,
          padId: d.padId,
          tokenization: o.tokenization,
        };
        if (o.task === "lin") {
          return await infusionJob(o, config, encoder, base, {
            task: linTask(c, o.loss),
            labels: null,
            outputs: o.maxLength,
            head: (hc, seed) => new LinHead(hc, seed),
          });
        }
        // fac numbers relations by the training set's sorted ids (the resumed run's list).
        const labels = priorStrings(prior, "labels") ??
          await relationSet(o.train, o.trainSplit);
        config.labels = labels;
        return await infusionJob(o, config, encoder, base, {
          task: facTask(c, labels),
          labels,
          outputs: labels.length,
          head: (hc, seed) => new FacHead(hc, seed),
        });
      } catch (e) {
        encoder.dispose();
        throw e;
      }
    },
  });
  return { ...r, adapterDir: r.outputDir };
}

async function infusionJob<S extends SchemaName, H extends FacHead | LinHead>(
  o: InfuseOptions,
  config: Record<string, unknown>,
  encoder: FrozenRoberta,
  /** The encoder's identity, recorded in the adapter folder. */
  base: BaseModelInfo,
  inf: Infusion<S, H>,
): Promise<Job> {
  const say = sayer(o), d = encoder.dims, task = inf.task;
  const load = async (path: string, split: string | undefined, limit?: number, train = false) => {
    const s = await loadSplit(task, path, { split, limit, train, progress: o.progress });
    const skipped = skippedText(s.report);
    say(
      `${path}: ${s.report.kept} examples, ${s.ex.tokenCount} tokens` +
        (skipped ? ` (${skipped})` : ""),
    );
    if (s.report.kept === 0) throw new RunError(`${path}: no usable examples`);
    return s;
  };
  const trainData = await load(o.train, o.trainSplit, o.limit, true);
  const devData = o.dev ? await load(o.dev, o.devSplit, o.devLimit) : null;
  const ac = adapterConfig(d.hidden, d.layers, newAdapterShape(d.hidden, o.adapter));
  if (ac.adapterHidden % ac.heads !== 0) {
    throw new RunError(
      `the adapter's size ${ac.adapterHidden} is not a multiple of its ${ac.heads} heads; ` +
        `pass --adapter-size and --adapter-heads that divide`,
    );
  }
  const adapter = new AdapterModel(ac, o.seed);
  const hc: HeadConfig = {
    hidden: d.hidden,
    labels: inf.outputs,
    dropout: o.headDropout,
    layerNormEps: d.layerNormEps,
  };
  const head = inf.head(hc, o.seed + 1);
  const m: Infused<H> = { model: new InfusionModel(encoder, adapter, o.maxLength), head };
  return {
    trainSize: trainData.ex.length,
    loss: (indices) => task.loss(m, trainData.ex, indices),
    params: [...adapter.namedParameters(), ...head.namedParameters()],
    dropout: [adapter.dropoutRng, head.dropoutRng],
    evaluate: devData
      ? async () => (await task.evaluate(m, devData, o.evalBatch)).metrics
      : undefined,
    bestMetric: task.bestMetric,
    prepare: (total) => prepareCache(o, m.model, trainData.ex, devData?.ex ?? null, total),
    describe: (total) =>
      `${o.task}: adapter ${adapter.parameterCount().toLocaleString("en-US")} + head ` +
      `${head.parameterCount().toLocaleString("en-US")} trainable parameters; encoder ` +
      `frozen (${d.layers} layers, ${encoder.dtype}); ${total} steps of ${o.batch} examples`,
    save: (dir, at) =>
      saveAdapterFolder(dir, adapter, {
        name: o.name ?? o.task,
        task: o.task,
        tokenization: o.tokenization,
        base,
        training: { ...config, step: at.step, total_steps: at.totalSteps, dev_metrics: at.dev },
      }, {
        module: head,
        meta: {
          task: o.task,
          config: hc,
          labels: inf.labels,
          maxLength: o.maxLength,
          loss: o.task === "lin" ? o.loss : "ce",
        },
      }),
    dispose: () => {
      m.model.closeCaches();
      head.dispose();
      adapter.dispose();
      encoder.dispose();
    },
  };
}

/**
 * --cache-features: says what the cache costs, refuses a memory cache over the limit, then
 * fills it: the training examples, and the dev examples when they are evaluated more than
 * once. Rebuilt at every start (--resume too); a disk cache is deleted when the run ends.
 */
async function prepareCache(
  o: InfuseOptions,
  model: InfusionModel,
  train: Examples,
  dev: Examples | null,
  total: number,
): Promise<void> {
  const mode = o.cacheFeatures ?? "off", dtype = o.cacheDtype ?? "f16", say = sayer(o);
  if (mode === "off") return;
  // The loop's evaluations: every evalEvery steps (default: each epoch) and at the end.
  const every = o.evalEvery ?? Math.floor(train.length / o.batch);
  const splits = { train, ...(dev && every > 0 && Math.ceil(total / every) > 1 ? { dev } : {}) };
  const names = Object.keys(splits) as (keyof typeof splits)[];
  const layouts = names.map((name) => cacheLayout(model, splits[name]!, dtype));
  const sum = (f: (l: CacheLayout) => number) => layouts.reduce((a, l) => a + f(l), 0);
  const bytes = sum(cacheBytes), { states, hidden } = layouts[0];
  const n = (x: number) => x.toLocaleString("en-US"), dir = join(o.out, "feature_cache");
  const padded = readsPadding([model.adapter]) ? ` (${model.padTo} per example: mask all)` : "";
  say(
    `caching encoder states: ${n(sum((l) => l.lengths.length))} examples ` +
      `(${names.join(" + ")}), ${n(sum(cachedTokens))} tokens${padded}, ` +
      `${states} states of ${hidden} = ${megabytes(bytes)} ` +
      `${mode === "memory" ? "in memory" : `in ${dir}`} (${dtype})`,
  );
  if (total * o.batch < train.length) {
    say(
      `note: the run draws ${total * o.batch} examples, fewer than the ${train.length} the ` +
        `cache computes first; it pays over more than one epoch`,
    );
  }
  if (mode === "memory") {
    const limit = memoryLimit(o.cacheLimit);
    if (bytes > limit.bytes) {
      throw new RunError(
        `the feature cache needs ${megabytes(bytes)}, over ${limit.source} ` +
          `(${megabytes(limit.bytes)}): pass --cache-features disk, or a larger --cache-limit`,
      );
    }
  }
  // What an earlier run left (a cache is rebuilt at every start).
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const [k, name] of names.entries()) {
    const path = mode === "disk" ? join(dir, `${name}.${dtype}`) : null;
    await cacheStates(model, splits[name]!, layouts[k], {
      path,
      batch: o.evalBatch,
      progress: o.progress,
    });
  }
}

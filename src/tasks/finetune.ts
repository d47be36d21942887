// Downstream fine-tuning end to end (`kadapter finetune TASK`, reference section 5): a
// trainable RoBERTa from a model folder, any subset of frozen knowledge adapters (none: the
// plain RoBERTa baseline; freshly initialised ones: the "w/o knowledge" ablation), their
// fusion (concat or add) and the task's head, trained with the shared loop. The run folder
// gets metrics.jsonl, curves.svg, checkpoint/ (for --resume), best/ (best dev score) and
// model/ (the last weights); best/ and model/ are self-contained fine-tuned models:
//
//   encoder/              model folder (config.json, model.safetensors, tokenizer files)
//   adapters/<name>/      adapter folders (adapter_config.json + adapter.safetensors)
//   fusion.safetensors    fusion layers (absent when the fusion has none: add mode, no adapter)
//   head.safetensors      the task head
//   finetune_config.json  task, label list, fusion mode, adapter order, max length, head sizes
//
// `loadFinetuned` rebuilds the model from such a folder for `kadapter eval` / `predict`.
//
// Tasks plug in through `FinetuneTask` (registered by name with `registerFinetuneTask`):
// entity-typing and relation are defined here; multiple-choice and span-qa in
// finetune_choice_qa.ts (their examples are groups of sequences: a store of their own and, for
// span QA, training "examples" that are the groups' sequences: `trainSize`).
import { join } from "node:path";
import { upload } from "../gpu/queue.ts";
import { countRows, readRows } from "../formats/arrow.ts";
import { recover, writeFolderAtomic, writeTextAtomic } from "../formats/atomic.ts";
import {
  openSafetensors,
  type SafetensorsEntry,
  writeSafetensors,
} from "../formats/safetensors.ts";
import type { EntityTypingRow, RelationRow, Rows, SchemaName } from "../formats/schemas.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { type AdapterConfig, adapterConfig } from "../models/adapter_config.ts";
import { type AdapterMeta, loadAdapter, saveAdapterFolder } from "../models/adapter_folder.ts";
import { type FusionMode, KAdapterEncoder } from "../models/fusion.ts";
import { AdapterModel } from "../models/kadapter.ts";
import { RobertaModel } from "../models/roberta.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { RelationHead, relationLoss, TypingHead, typingLoss } from "../models/task_heads.ts";
import { Rng } from "../nn/init.ts";
import type { Module } from "../nn/module.ts";
import type { DropoutRng, Tensor } from "../tensor/mod.ts";
import { numel } from "../tensor/tensor.ts";
import { train, type TrainResult } from "../train/loop.ts";
import { Progress, type ProgressOptions } from "../train/progress.ts";
import {
  EvalTracker,
  loopOptions,
  openRun,
  runConfig,
  RunError,
  type RunSettings,
  sayer,
} from "../train/run.ts";
import {
  looseMacro,
  looseMicro,
  strictAccuracy,
  tacredScores,
  typingPredictions,
} from "./downstream_metrics.ts";
import {
  encodeTyping,
  type TaskFeatures,
  typeSet,
  TYPING_MAX_LENGTH,
  type TypingExamples,
  TypingExamples as TypingStore,
  typingLogits,
} from "./entity_typing.ts";
import { type Example, Examples } from "./examples.ts";
import type { Group } from "./multiple_choice.ts";
import { argmaxRows, evaluateBatches, type LoadReport, skippedText } from "./infusion.ts";
import {
  encodeRelation,
  NO_RELATION,
  RELATION_MAX_LENGTH,
  RELATION_VALUES,
  relationLabels,
  relationLogits,
} from "./relation.ts";

// ---- the task interface -------------------------------------------------------------------

/** A task head: any module with its own dropout stream (checkpointed by the loop). */
export interface TaskHead extends Module {
  readonly dropoutRng: DropoutRng;
}

/** Task variants chosen on the command line and stored with the model. */
export interface TaskSettings {
  /** Entity typing: FIGER's evaluation (the argmax type is always predicted). */
  figer?: boolean;
}

/**
 * Where a task keeps a split's examples: an Examples store, or a task's own (e.g. a
 * GroupedExamples, whose examples are groups of sequences).
 */
export interface TaskStore {
  /** Examples held (what evaluation counts and `rows` indexes). */
  readonly length: number;
  add(e: Example | Group): void;
}

/**
 * A split encoded for a task: the examples and, for each, the index of the data row it came
 * from (a task may make several examples of one row, e.g. one per paragraph, or skip rows).
 */
export interface TaskData {
  ex: TaskStore;
  rows: number[];
  /** Rows read from the split. */
  rowCount: number;
}

export interface TaskRunOptions {
  batchSize: number;
  padId: number;
  /** The feature model's modules: put in eval mode with the head, back in train mode after. */
  modules: { train(on?: boolean): unknown }[];
}

/** Metrics of a split and one JSON record per example, in example order (its row in `row`). */
export interface TaskOutput {
  metrics: Record<string, number>;
  predictions: Record<string, unknown>[];
}

/** What `finetune`, `eval` and `predict` need of a downstream task. */
export interface FinetuneTask<S extends SchemaName = SchemaName> {
  /** The CLI name, e.g. "entity-typing". */
  readonly name: string;
  /** The Arrow schema of its data. */
  readonly schema: S;
  /** The released code's max length (presets may override). */
  readonly maxLength: number;
  /** The dev metric that picks best/. */
  readonly bestMetric: string;
  /** The label list, from the training split (sorted; saved with the model). */
  labels(path: string, split?: string): Promise<string[]>;
  /** An empty example store for `labels`. */
  examples(vocab: number, labels: readonly string[]): TaskStore;
  /**
   * One row as example(s), or a reason string to skip it (counted and reported). `dropped`
   * counts gold labels unknown to the label list, by name. `opts.train`: the row is for
   * training (a task may encode evaluation rows without looking at their answers).
   */
  encode(
    tok: RobertaTokenizer,
    row: Rows[S],
    labels: ReadonlyMap<string, number>,
    maxLength: number,
    dropped: Map<string, number>,
    opts: { train: boolean },
  ): Example | Example[] | Group | string;
  /**
   * Training examples of an encoded training split: the loop draws batches of indices in
   * 0 .. trainSize - 1 for `loss` (default: ex.length; span QA: its paragraph sequences).
   */
  trainSize?(ex: TaskStore): number;
  head(hidden: number, labels: number, dropout: number, seed: number): TaskHead;
  /** Mean loss of a training micro-batch (indices below `trainSize`). */
  loss(
    features: TaskFeatures,
    head: TaskHead,
    ex: TaskStore,
    indices: number[],
    padId: number,
  ): Tensor;
  /** Metrics (bestMetric among them) and predictions over a split. */
  run(
    features: TaskFeatures,
    head: TaskHead,
    data: TaskData,
    labels: readonly string[],
    opts: TaskRunOptions,
  ): Promise<TaskOutput>;
}

/** Logits of every example, in example order, as host rows of `width` values. */
async function allLogits(
  n: number,
  length: (i: number) => number,
  width: number,
  forward: (indices: number[]) => Tensor,
  opts: TaskRunOptions,
  head: TaskHead,
): Promise<Float32Array[]> {
  const out: Float32Array[] = new Array(n);
  await evaluateBatches(n, length, opts.batchSize, [...opts.modules, head], forward, (ix, v) => {
    ix.forEach((i, r) => (out[i] = v.slice(r * width, (r + 1) * width)));
  });
  return out;
}

/** Entity typing (OpenEntity; FIGER with `figer`): BCE over the types, strict/loose metrics. */
export function entityTypingTask(settings: TaskSettings = {}): FinetuneTask<"entity-typing"> {
  const forceArgmax = settings.figer ?? false;
  return {
    name: "entity-typing",
    schema: "entity-typing",
    maxLength: TYPING_MAX_LENGTH,
    bestMetric: "micro_f1",
    labels: (path, split) => typeSet(path, split),
    examples: (vocab, labels) => new TypingStore(vocab, labels.length),
    encode: (tok, row: EntityTypingRow, labels, maxLength, dropped) =>
      encodeTyping(tok, row, labels as Map<string, number>, maxLength, dropped),
    head: (hidden, labels, dropout, seed) => new TypingHead(hidden, labels, dropout, seed),
    loss(features, head, ex, indices, padId) {
      const e = ex as TypingExamples;
      return typingLoss(
        typingLogits(features, head as TypingHead, e, indices, padId),
        e.targets(indices),
      );
    },
    async run(features, head, data, labels, opts) {
      const ex = data.ex as TypingExamples, n = labels.length;
      const logits = await allLogits(
        ex.length,
        (i) => ex.ids(i).length,
        n,
        (ix) => typingLogits(features, head as TypingHead, ex, ix, opts.padId),
        opts,
        head,
      );
      const gold = logits.map((_, i) => [...ex.labels(i)]);
      const pred = logits.map((l) => typingPredictions(l, n, { forceArgmax }));
      const macro = looseMacro(gold, pred), micro = looseMicro(gold, pred);
      return {
        metrics: {
          strict: strictAccuracy(gold, pred),
          macro_p: macro.p,
          macro_r: macro.r,
          macro_f1: macro.f1,
          micro_p: micro.p,
          micro_r: micro.r,
          micro_f1: micro.f1,
        },
        predictions: logits.map((l, i) => ({
          row: data.rows[i],
          gold: gold[i].map((k) => labels[k]),
          predicted: pred[i].map((k) => labels[k]),
          logits: Array.from(l),
        })),
      };
    },
  };
}

/** Relation classification (TACRED): cross-entropy, micro P/R/F1 without no_relation. */
export function relationTask(): FinetuneTask<"relation"> {
  return {
    name: "relation",
    schema: "relation",
    maxLength: RELATION_MAX_LENGTH,
    bestMetric: "f1",
    labels: (path, split) => relationLabels(path, split),
    examples: (vocab) => new Examples(vocab, [], RELATION_VALUES),
    encode: (tok, row: RelationRow, labels, maxLength) =>
      encodeRelation(tok, row, labels as Map<string, number>, maxLength),
    head: (hidden, labels, dropout, seed) => new RelationHead(hidden, labels, dropout, seed),
    loss(features, head, store, indices, padId) {
      const ex = store as Examples;
      return relationLoss(
        relationLogits(features, head as RelationHead, ex, indices, padId),
        indices.map((i) => ex.value(i, "label")),
      );
    },
    async run(features, head, data, labels, opts) {
      const ex = data.ex as Examples, n = labels.length;
      const logits = await allLogits(
        ex.length,
        (i) => ex.ids(i).length,
        n,
        (ix) => relationLogits(features, head as RelationHead, ex, ix, opts.padId),
        opts,
        head,
      );
      const gold = logits.map((_, i) => labels[ex.value(i, "label")]);
      const pred = logits.map((l) => labels[argmaxRows(l, n)[0]]);
      const s = tacredScores(gold, pred, NO_RELATION);
      const right = gold.filter((g, i) => g === pred[i]).length;
      return {
        metrics: {
          precision: s.precision,
          recall: s.recall,
          f1: s.f1,
          accuracy: gold.length ? right / gold.length : 0,
        },
        predictions: logits.map((l, i) => ({
          row: data.rows[i],
          gold: gold[i],
          predicted: pred[i],
          logits: Array.from(l),
        })),
      };
    },
  };
}

// deno-lint-ignore no-explicit-any
type AnyTask = FinetuneTask<any>;
const TASKS = new Map<string, (s: TaskSettings) => AnyTask>([
  ["entity-typing", (s) => entityTypingTask(s)],
  ["relation", () => relationTask()],
]);

/** Makes a task available to `finetune` and `loadFinetuned` under its name. */
export function registerFinetuneTask(name: string, make: (s: TaskSettings) => AnyTask): void {
  TASKS.set(name, make);
}

export function finetuneTaskNames(): string[] {
  return [...TASKS.keys()];
}

export function finetuneTask(name: string, settings: TaskSettings = {}): AnyTask {
  const make = TASKS.get(name);
  if (!make) {
    throw new RunError(`unknown task "${name}"; tasks: ${[...TASKS.keys()].join(", ")}`);
  }
  return make(settings);
}

// ---- data -----------------------------------------------------------------------------------

export interface LoadedSplit extends TaskData {
  report: LoadReport;
  /** Gold labels unknown to the label list, by name (left out of the examples). */
  dropped: Map<string, number>;
}

/** Streams a split through the task's encoder; skipped rows are counted by reason. */
export async function loadSplit(
  task: AnyTask,
  tok: RobertaTokenizer,
  path: string,
  labels: readonly string[],
  maxLength: number,
  vocab: number,
  opts: { split?: string; limit?: number; train?: boolean; progress?: ProgressOptions } = {},
): Promise<LoadedSplit> {
  const index = new Map(labels.map((l, i) => [l, i]));
  const ex = task.examples(vocab, labels), rows: number[] = [], dropped = new Map();
  const total = Math.min(await countRows(path, opts.split), opts.limit ?? Infinity);
  const bar = new Progress(total, { label: "encode", ...opts.progress });
  const report: LoadReport = { rows: 0, kept: 0, skipped: new Map() };
  try {
    for await (const chunk of readRows(path, task.schema, opts.split)) {
      for (const row of chunk) {
        if (report.rows >= total) break;
        const e = task.encode(tok, row, index, maxLength, dropped, { train: !!opts.train });
        if (typeof e === "string") report.skipped.set(e, (report.skipped.get(e) ?? 0) + 1);
        else {
          for (const one of Array.isArray(e) ? e : [e]) {
            ex.add(one);
            rows.push(report.rows);
          }
          report.kept++;
        }
        report.rows++;
      }
      bar.tick(chunk.length);
      if (report.rows >= total) break;
    }
  } finally {
    bar.finish();
  }
  return { ex, rows, rowCount: report.rows, report, dropped };
}

function describe(path: string, s: LoadedSplit): string {
  const skipped = skippedText(s.report);
  const dropped = [...s.dropped].map(([l, k]) => `${k} ${l}`).join(", ");
  return `${path}: ${s.report.kept} of ${s.report.rows} rows used, ${s.ex.length} examples` +
    (skipped ? ` (${skipped})` : "") + (dropped ? `; unknown labels left out: ${dropped}` : "");
}

// ---- the fine-tuned model folder --------------------------------------------------------------

const FORMAT = "kadapter-finetune/1";
export const FINETUNE_CONFIG = "finetune_config.json";
const FUSION_WEIGHTS = "fusion.safetensors", HEAD_WEIGHTS = "head.safetensors";
const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
];

export interface FinetuneConfig {
  format: string;
  task: string;
  settings: TaskSettings;
  labels: string[];
  fusion: FusionMode;
  /** In fusion order; `untrained`: freshly initialised (the "w/o knowledge" ablation). */
  adapters: { name: string; untrained: boolean; config: AdapterConfig }[];
  freezeEncoder: boolean;
  trainAdapters: boolean;
  maxLength: number;
  head: { hidden: number; labels: number; dropout: number };
  training: Record<string, unknown>;
}

/** A fine-tuned model: encoder + adapters + fusion (the features) and the head. */
export class FinetunedModel {
  constructor(
    readonly task: AnyTask,
    readonly config: FinetuneConfig,
    readonly encoder: KAdapterEncoder,
    readonly head: TaskHead,
    readonly tok: RobertaTokenizer,
    /** The adapter folders' metadata, by name (written again on save). */
    readonly adapterMeta: Map<string, AdapterMeta>,
  ) {}

  readonly features: TaskFeatures = (b) => this.encoder.features(b);

  get padId(): number {
    return this.encoder.roberta.dims.padId;
  }

  /** Encodes a split with the model's labels and max length. */
  load(path: string, opts: { split?: string; limit?: number; progress?: ProgressOptions } = {}) {
    const c = this.config;
    return loadSplit(
      this.task,
      this.tok,
      path,
      c.labels,
      c.maxLength,
      this.encoder.roberta.dims.vocab,
      opts,
    );
  }

  /** Metrics and predictions on encoded data (eval mode; train mode after). */
  run(data: TaskData, batchSize: number): Promise<TaskOutput> {
    return this.task.run(this.features, this.head, data, this.config.labels, {
      batchSize,
      padId: this.padId,
      modules: [this.encoder],
    });
  }

  /** Writes the folder atomically; `tokenizerFrom` holds the tokenizer files. */
  async save(dir: string, tokenizerFrom: string, training: Record<string, unknown>) {
    const c: FinetuneConfig = { ...this.config, training };
    const d = this.encoder.roberta.dims;
    await writeFolderAtomic(dir, async (tmp) => {
      const enc = join(tmp, "encoder");
      await this.encoder.roberta.save(enc);
      for (const f of TOKENIZER_FILES) {
        await Deno.copyFile(join(tokenizerFrom, f), join(enc, f)).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      }
      for (const [name, a] of this.encoder.adapters) {
        const meta = this.adapterMeta.get(name) ?? {
          name,
          task: "untrained",
          base: {
            model_type: "roberta",
            hidden_size: d.hidden,
            num_hidden_layers: d.layers,
            vocab_size: d.vocab,
          },
        };
        await saveAdapterFolder(join(tmp, "adapters", name), a, meta);
      }
      const pt = { format: "pt" };
      if (this.encoder.fusion.parameterCount() > 0) {
        await writeSafetensors(join(tmp, FUSION_WEIGHTS), entries(this.encoder.fusion), pt);
      }
      await writeSafetensors(join(tmp, HEAD_WEIGHTS), entries(this.head), pt);
      await writeTextAtomic(join(tmp, FINETUNE_CONFIG), JSON.stringify(c, null, 2) + "\n");
    });
  }

  dispose(): void {
    this.head.dispose();
    this.encoder.dispose();
  }
}

function entries(m: Module): SafetensorsEntry[] {
  return m.namedParameters().map(([name, t]) => ({
    name,
    dtype: "F32" as const,
    shape: t.shape,
    data: () => t.data(),
  }));
}

/** Loads a weight file into a module; every tensor must be there with its exact shape. */
async function loadWeights(path: string, m: Module): Promise<void> {
  const file = await openSafetensors(path);
  try {
    const want = m.namedParameters(), problems: string[] = [];
    for (const [name, t] of want) {
      const info = file.tensors.get(name);
      if (!info) problems.push(`missing ${name}`);
      else if (info.dtype !== "F32" || String(info.shape) !== String(t.shape)) {
        problems.push(`${name} is ${info.dtype} [${info.shape}], the model has F32 [${t.shape}]`);
      }
    }
    const names = new Set(want.map(([n]) => n));
    for (const name of file.tensors.keys()) {
      if (!names.has(name)) problems.push(`unexpected ${name}`);
    }
    if (problems.length) throw new RunError(`${path}: ${problems.join("; ")}`);
    for (const [name, t] of want) upload(t.buffer, t.offset * 4, await file.readF32(name));
  } finally {
    file.close();
  }
}

/**
 * The fine-tuned model folder in `dir`: a folder with finetune_config.json (model/ or best/
 * of a run), or a run folder holding model/.
 */
export async function finetunedFolder(dir: string): Promise<string> {
  for (const d of [dir, join(dir, "model")]) {
    await recover(d);
    if (await Deno.stat(join(d, FINETUNE_CONFIG)).then(() => true, () => false)) return d;
  }
  throw new RunError(
    `${dir} holds no fine-tuned model (no ${FINETUNE_CONFIG} in it or in ${join(dir, "model")})`,
  );
}

/** Rebuilds a fine-tuned model (eval mode) from a folder `FinetunedModel.save` wrote. */
export async function loadFinetuned(dir: string): Promise<FinetunedModel> {
  const root = await finetunedFolder(dir);
  const c = JSON.parse(await Deno.readTextFile(join(root, FINETUNE_CONFIG))) as FinetuneConfig;
  if (c.format !== FORMAT) {
    throw new RunError(`${join(root, FINETUNE_CONFIG)}: format must be ${FORMAT}, not ${c.format}`);
  }
  const task = finetuneTask(c.task, c.settings ?? {});
  const tok = await RobertaTokenizer.fromFolder(join(root, "encoder"));
  const roberta = await RobertaModel.load(join(root, "encoder"), { lmHead: false });
  const adapters: [string, AdapterModel][] = [], meta = new Map<string, AdapterMeta>();
  let enc: KAdapterEncoder | null = null, head: TaskHead | null = null;
  try {
    const d = roberta.dims;
    for (const a of c.adapters) {
      const r = await loadAdapter(join(root, "adapters", a.name), {
        hidden: d.hidden,
        layers: d.layers,
      });
      adapters.push([a.name, r.adapter]);
      if (!a.untrained) meta.set(a.name, r.meta);
    }
    enc = new KAdapterEncoder(roberta, adapters, {
      mode: c.fusion,
      freezeEncoder: c.freezeEncoder,
      trainAdapters: c.trainAdapters,
    });
    if (enc.fusion.parameterCount() > 0) await loadWeights(join(root, FUSION_WEIGHTS), enc.fusion);
    head = task.head(c.head.hidden, c.head.labels, c.head.dropout, 0);
    await loadWeights(join(root, HEAD_WEIGHTS), head);
    enc.eval();
    head.eval();
    return new FinetunedModel(task, c, enc, head, tok, meta);
  } catch (e) {
    head?.dispose();
    if (enc) enc.dispose();
    else {
      roberta.dispose();
      for (const [, a] of adapters) a.dispose();
    }
    throw e;
  }
}

// ---- the run --------------------------------------------------------------------------------

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
   * (`untrainedConfig`, default: the released code's for this encoder).
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
  /** Head dropout (hidden_dropout_prob). */
  headDropout: number;
  evalBatch: number;
  limit?: number;
  devLimit?: number;
}

export interface FinetuneResult extends TrainResult {
  dev: Record<string, number> | null;
  test: Record<string, number> | null;
  modelDir: string;
  bestDir: string | null;
  /** Predictions of the final model on dev (in row order), for checks. */
  devPredictions: Record<string, unknown>[] | null;
}

const FIXED = [
  "task",
  "settings",
  "adapters",
  "untrainedAdapter",
  "fusion",
  "freezeEncoder",
  "trainAdapters",
  "batch",
  "accumulate",
  "lr",
  "epochs",
  "steps",
  "warmup",
  "maxLength",
];

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const say = sayer(o);
  const settings = o.settings ?? {};
  const task = finetuneTask(o.task, settings);
  if (o.adapters.length === 0 && o.untrainedAdapter === false && o.trainAdapters) {
    say("note: --train-adapters has no adapter to train");
  }
  const maxLength = o.maxLength ?? task.maxLength;
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
    headDropout: o.headDropout,
    limit: o.limit ?? null,
  };
  const prior = await openRun(o.out, o.resume, config, FIXED);
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const roberta = await RobertaModel.load(o.model, { lmHead: false, recompute: o.recompute });
  const d = roberta.dims;
  const adapters: [string, AdapterModel][] = [];
  const adapterMeta = new Map<string, AdapterMeta>();
  let model: FinetunedModel | null = null;
  try {
    if (maxLength > maxSequence(d)) {
      throw new RunError(
        `max length ${maxLength} exceeds the model's ${maxSequence(d)} positions; pass ` +
          `--max-length`,
      );
    }
    const base = { hidden: d.hidden, layers: d.layers };
    for (const [i, a] of o.adapters.entries()) {
      const r = await loadAdapter(a.dir, base);
      if (o.untrainedAdapter) {
        r.adapter.dispose();
        adapters.push([a.name, new AdapterModel(r.config, o.seed + 100 + i)]);
      } else {
        adapters.push([a.name, r.adapter]);
        adapterMeta.set(a.name, r.meta);
      }
    }
    if (o.untrainedAdapter && o.adapters.length === 0) {
      const c = adapterConfig(d.hidden, d.layers, o.untrainedConfig ?? {});
      adapters.push(["untrained", new AdapterModel(c, o.seed + 100)]);
    }
    const labels = (prior?.labels as string[] | undefined) ??
      await task.labels(o.train, o.trainSplit);
    config.labels = labels;
    if (labels.length === 0) throw new RunError(`${o.train}: no labels`);
    const load = async (path: string, split?: string, limit?: number, train = false) => {
      const s = await loadSplit(task, tok, path, labels, maxLength, d.vocab, {
        split,
        limit,
        train,
        progress: o.progress,
      });
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
    });
    adapters.length = 0; // owned by enc now
    const head = task.head(d.hidden, labels.length, o.headDropout, o.seed + 1);
    const fc: FinetuneConfig = {
      format: FORMAT,
      task: task.name,
      settings,
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
      head: { hidden: d.hidden, labels: labels.length, dropout: o.headDropout },
      training: {},
    };
    model = new FinetunedModel(task, fc, enc, head, tok, adapterMeta);
    // Dropout follows --seed (a loaded model's stream would otherwise always start at 0).
    roberta.dropoutRng.seed = new Rng(o.seed).fork();
    roberta.dropoutRng.counter = 0;
    enc.train(true);
    head.train(true);
    const m = model;
    const padId = d.padId;
    const shared = loopOptions(o, trainSize), total = shared.steps;
    const evaluate = devData ? async () => (await m.run(devData, o.evalBatch)).metrics : undefined;
    const evals = new EvalTracker(o.out, `kadapter finetune ${task.name}`);
    const training = (step: number, dev: Record<string, number> | null) => ({
      ...config,
      step,
      total_steps: total,
      dev_metrics: dev,
    });
    const params = [
      ...enc.trainableParameters(),
      ...head.namedParameters().map(
        ([n, t]) => [`head.${n}`, t] as [string, Tensor],
      ),
    ];
    const trainable = params.reduce((s, [, t]) => s + numel(t.shape), 0);
    const names = fc.adapters.map((a) => a.name).join("+") || "none";
    say(
      `${task.name}: ${trainable.toLocaleString("en-US")} trainable parameters (encoder ` +
        `${o.freezeEncoder ? "frozen" : "trained"}, adapters ${names}` +
        `${o.untrainedAdapter ? " untrained" : ""} ${o.trainAdapters ? "trained" : "frozen"}, ` +
        `fusion ${o.fusion}); ${labels.length} labels; ${total} steps of ${o.batch} examples`,
    );
    const dropout = [
      roberta.dropoutRng,
      head.dropoutRng,
      ...(o.trainAdapters ? [...enc.adapters.values()].map((a) => a.dropoutRng) : []),
    ];
    const result = await train<number[]>({
      ...shared,
      params,
      makeBatch: (indices) => indices,
      loss: (indices) => task.loss(m.features, head, trainData.ex, indices, padId),
      dropout,
      evaluate,
      onEval: evals.onEval,
      saveBest: (dir) => m.save(dir, o.model, training(evals.last!.step, evals.last!.metrics)),
      bestMetric: task.bestMetric,
      config,
    });
    let dev = evals.at(result.step), devPredictions: Record<string, unknown>[] | null = null;
    if (devData && !result.interrupted) {
      const r = await m.run(devData, o.evalBatch);
      devPredictions = r.predictions;
      dev ??= r.metrics;
    }
    let test: Record<string, number> | null = null;
    if (testData && !result.interrupted) {
      test = (await m.run(testData, o.evalBatch)).metrics;
      say(
        `test (final weights): ` +
          Object.entries(test).map(([k, x]) => `${k} ${x.toFixed(4)}`).join(", "),
      );
    }
    const modelDir = join(o.out, "model");
    await m.save(modelDir, o.model, { ...training(result.step, dev), test_metrics: test });
    await evals.plot();
    return {
      ...result,
      dev,
      test,
      modelDir,
      bestDir: result.best ? join(o.out, "best") : null,
      devPredictions,
    };
  } finally {
    if (model) model.dispose();
    else {
      for (const [, a] of adapters) a.dispose();
      roberta.dispose();
    }
  }
}

// The masked-LM layer K-Adapter's LAMA probing trains (reference section 6): the model has no
// masked-LM head, so a new linear layer maps the final feature to vocabulary logits and is
// trained alone (encoder and adapters frozen) with RoBERTa's masking on raw text.
//
// The final feature of a token is cat(encoder last hidden state, adapter_1 output, ...,
// adapter_k output), in the order the adapters are given, so the layer is one
// Linear((1 + k) * H -> vocab) (PyTorch's default init). k = 0 (no adapters: the last hidden
// state alone) is the fair encoder-alone baseline, a layer trained the same way on the same
// corpus (the encoder's own masked-LM head was trained on other text). Only the rows of
// masked positions go through it. Its folder holds mlm_config.json (format
// "kadapter-probe-mlm/1": the encoder's sizes, the adapters it was trained with, the feature,
// training settings) and mlm.safetensors (decoder.weight [vocab, (1 + k) * H], decoder.bias
// [vocab], F32).
import { join } from "node:path";
import { recover, writeFolderAtomic, writeTextAtomic } from "../formats/atomic.ts";
import { parseJsonStrict } from "../formats/json.ts";
import { openSafetensors, SafetensorsError, writeSafetensors } from "../formats/safetensors.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { upload } from "../gpu/queue.ts";
import type { AdapterConfig } from "../models/adapter_config.ts";
import { AdapterFolderError, type BaseModelInfo, loadAdapter } from "../models/adapter_folder.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { type EncoderInput, maskTensor } from "../models/roberta_inputs.ts";
import { Rng, withoutInit } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import {
  cast,
  concat,
  crossEntropy,
  indexSelect,
  noGrad,
  reshape,
  Tensor,
  tidy,
} from "../tensor/mod.ts";
import { train, type TrainResult } from "../train/loop.ts";
import {
  EvalTracker,
  loopOptions,
  openRun,
  runConfig,
  type RunSettings,
  sayer,
} from "../train/run.ts";
import type { Examples } from "./examples.ts";
import { ProbeError } from "./lama_probe.ts";
import {
  devMaskedBatch,
  loadCorpus,
  type MaskedBatch,
  maskedBatch,
  maskedScores,
  masking,
  type MlmMasking,
} from "./mlm.ts";

export const MLM_CONFIG = "mlm_config.json", MLM_WEIGHTS = "mlm.safetensors";
export const MLM_FORMAT = "kadapter-probe-mlm/1";
export const MLM_FEATURE = "cat(last, adapters...)";

/**
 * A run or a folder that cannot be used as asked (lama_probe's ProbeError, which the CLI
 * reports without a stack trace); the message says why.
 */
export { ProbeError as ProbeMlmError };

/** An adapter as the layer's config records it (its folder's shape, not its weights). */
export interface AdapterSummary {
  name: string;
  dir: string;
  task: string;
  adapter_list: number[];
  adapter_size: number;
  num_attention_heads: number;
  intermediate_size: number;
  adapter_transformer_layers: number;
  combine: string;
  adapter_mask: string;
}

/** The fields that must agree between training and probing (all but dir). */
const SHAPE_KEYS = [
  "name",
  "task",
  "adapter_list",
  "adapter_size",
  "num_attention_heads",
  "intermediate_size",
  "adapter_transformer_layers",
  "combine",
  "adapter_mask",
] as const;

export function adapterSummary(
  name: string,
  dir: string,
  task: string,
  c: AdapterConfig,
): AdapterSummary {
  return {
    name,
    dir,
    task,
    adapter_list: [...c.adapterList],
    adapter_size: c.adapterHidden,
    num_attention_heads: c.heads,
    intermediate_size: c.intermediate,
    adapter_transformer_layers: c.layers,
    combine: c.combine,
    adapter_mask: c.mask,
  };
}

/** A frozen adapter model under its --adapters name. */
export interface NamedAdapter {
  name: string;
  dir: string;
  adapter: AdapterModel;
  summary: AdapterSummary;
}

/** Loads `--adapters` folders for an encoder (eval mode); frees them all on an error. */
export async function loadAdapters(
  specs: readonly { name: string; dir: string }[],
  encoder: FrozenRoberta,
): Promise<NamedAdapter[]> {
  const out: NamedAdapter[] = [], d = encoder.dims;
  try {
    for (const { name, dir } of specs) {
      try {
        const { adapter, meta, config } = await loadAdapter(dir, {
          hidden: d.hidden,
          layers: d.layers,
        });
        out.push({ name, dir, adapter, summary: adapterSummary(name, dir, meta.task, config) });
      } catch (e) {
        if (!(e instanceof AdapterFolderError)) throw e;
        throw new AdapterFolderError(e.where, e.problems.map((p) => `${p} (--adapters ${name})`));
      }
    }
  } catch (e) {
    out.forEach((a) => a.adapter.dispose());
    throw e;
  }
  return out;
}

/**
 * The final feature's parts: the frozen encoder run once (keeping the union of the adapters'
 * adapter_list states and the last one), then each adapter on its states; all without tape,
 * the adapters in eval mode. features() returns [last, adapter_1, ..., adapter_k], each
 * [batch, seq, H] f32.
 */
export class AdapterFeatures {
  readonly #keep: number[];

  constructor(readonly encoder: FrozenRoberta, readonly adapters: readonly AdapterModel[]) {
    const L = encoder.dims.layers, H = encoder.dims.hidden;
    for (const a of adapters) {
      if (a.config.hidden !== H) {
        throw new Error(`an adapter reads hidden size ${a.config.hidden}, the encoder has ${H}`);
      }
      const bad = a.config.adapterList.find((i) => i > L);
      if (bad !== undefined) {
        throw new Error(`adapter_list entry ${bad} is past the encoder's last layer (${L})`);
      }
      a.eval();
    }
    this.#keep = [...new Set([...adapters.flatMap((a) => a.config.adapterList), L])].sort((a, b) =>
      a - b
    );
  }

  get parts(): number {
    return 1 + this.adapters.length;
  }

  features(input: EncoderInput): Tensor[] {
    return noGrad(() => {
      const f32 = (t: Tensor) => (t.dtype === "f32" ? t : cast(t, "f32"));
      const states = this.encoder.hiddenStates(input, { keep: this.#keep }).map(f32);
      const at = (i: number) => states[this.#keep.indexOf(i)];
      const mask = maskTensor(input);
      const outs = this.adapters.map((a) => a.forward(a.config.adapterList.map(at), mask));
      return [at(this.encoder.dims.layers), ...outs];
    });
  }
}

/** Linear((1 + adapters) * hidden -> vocab) over the final feature, as `decoder`; adapters >= 0. */
export class ProbeMlmLayer extends Module {
  readonly decoder: Linear;

  constructor(
    readonly hidden: number,
    readonly adapters: number,
    readonly vocab: number,
    seed: number,
    { init = true } = {},
  ) {
    super();
    if (!(Number.isSafeInteger(adapters) && adapters >= 0)) {
      throw new Error(`the MLM layer reads a whole number of adapters, not ${adapters}`);
    }
    const make = () => new Linear((1 + adapters) * hidden, vocab, new Rng(seed));
    this.decoder = this.child("decoder", init ? make() : withoutInit(make));
  }

  get inFeatures(): number {
    return (1 + this.adapters) * this.hidden;
  }

  /**
   * Logits [rows.length, vocab] of the flat rows `rows` (of [batch * seq]) of the parts
   * [last, adapter_1, ...] ([batch, seq, H] each): only these rows are gathered and projected.
   */
  logits(parts: readonly Tensor[], rows: ArrayLike<number>): Tensor {
    if (parts.length !== 1 + this.adapters) {
      throw new Error(
        `the MLM layer reads ${1 + this.adapters} feature parts, got ${parts.length}`,
      );
    }
    const [b, s, h] = parts[0].shape;
    const ids = Tensor.from(Int32Array.from(rows), [rows.length], "i32");
    const picked = parts.map((p) => indexSelect(reshape(p, [b * s, h]), 0, ids));
    return this.decoder.forward(picked.length === 1 ? picked[0] : concat(picked, 1));
  }
}

export interface ProbeMlmMeta {
  base: BaseModelInfo;
  adapters: AdapterSummary[];
  /** Free-form: hyperparameters, steps, dev metrics. */
  training?: Record<string, unknown>;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** Writes mlm_config.json and mlm.safetensors atomically (replacing an existing folder). */
export async function saveProbeMlm(
  dir: string,
  layer: ProbeMlmLayer,
  meta: ProbeMlmMeta,
): Promise<void> {
  if (meta.adapters.length !== layer.adapters) {
    throw new Error(
      `${meta.adapters.length} adapter summaries for a ${layer.adapters}-adapter layer`,
    );
  }
  const json = {
    format: MLM_FORMAT,
    base_model: meta.base,
    vocab_size: layer.vocab,
    hidden_size: layer.hidden,
    in_features: layer.inFeatures,
    feature: MLM_FEATURE,
    adapters: meta.adapters,
    ...(meta.training === undefined ? {} : { training: meta.training }),
  };
  await writeFolderAtomic(dir, async (tmp) => {
    await writeSafetensors(
      join(tmp, MLM_WEIGHTS),
      layer.namedParameters().map(([name, t]) => ({
        name,
        dtype: "F32" as const,
        shape: t.shape,
        data: () => t.data(),
      })),
      { format: "pt" },
    );
    await writeTextAtomic(join(tmp, MLM_CONFIG), JSON.stringify(json, null, 2) + "\n");
  });
}

/** Reads and checks mlm_config.json (no GPU work). */
export async function readProbeMlmConfig(dir: string): Promise<ProbeMlmMeta & { vocab: number }> {
  await recover(dir);
  const where = join(dir, MLM_CONFIG);
  let json: unknown;
  try {
    json = parseJsonStrict(await Deno.readTextFile(where));
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "missing (not a `kadapter probe train-mlm` MLM folder?)"
      : (e as Error).message;
    throw new ProbeError(`${where}: ${why}`);
  }
  const problems: string[] = [];
  if (!isObject(json)) throw new ProbeError(`${where}: must be a JSON object`);
  if (json.format !== MLM_FORMAT) {
    problems.push(`format must be "${MLM_FORMAT}", not ${JSON.stringify(json.format)}`);
  }
  const base = json.base_model as BaseModelInfo;
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 1;
  if (!isObject(base) || !count(base.hidden_size) || !count(base.num_hidden_layers)) {
    problems.push("base_model must hold hidden_size and num_hidden_layers");
  }
  if (!count(json.vocab_size)) problems.push("vocab_size must be a positive integer");
  const adapters = json.adapters as AdapterSummary[];
  if (!Array.isArray(adapters) || !adapters.every(isObject)) {
    problems.push("adapters must be an array of adapter summaries (empty: the encoder alone)");
  }
  if (json.feature !== MLM_FEATURE) {
    problems.push(`feature must be "${MLM_FEATURE}", not ${JSON.stringify(json.feature)}`);
  }
  if (problems.length) throw new ProbeError(`${where}: ${problems.join("; ")}`);
  return {
    base,
    adapters,
    vocab: json.vocab_size as number,
    ...(isObject(json.training) ? { training: json.training } : {}),
  };
}

/**
 * Loads an MLM layer folder for this encoder and these adapters (in this order). Refuses,
 * naming every difference, an encoder or adapters other than those it was trained with
 * (count, names, shapes: the layer reads their outputs), and checks every tensor's name,
 * dtype and shape before uploading any.
 */
export async function loadProbeMlm(
  dir: string,
  encoder: { hidden: number; layers: number; vocab: number },
  adapters: readonly AdapterSummary[],
): Promise<{ layer: ProbeMlmLayer; meta: ProbeMlmMeta }> {
  const meta = await readProbeMlmConfig(dir);
  const where = join(dir, MLM_CONFIG), problems: string[] = [];
  const b = meta.base;
  if (b.hidden_size !== encoder.hidden || b.num_hidden_layers !== encoder.layers) {
    problems.push(
      `trained on an encoder with hidden_size ${b.hidden_size} and ${b.num_hidden_layers} ` +
        `layers; this encoder has ${encoder.hidden} and ${encoder.layers}`,
    );
  }
  if (meta.vocab !== encoder.vocab) {
    problems.push(`vocabulary of ${meta.vocab} ids; this encoder has ${encoder.vocab}`);
  }
  const names = (xs: readonly AdapterSummary[]) => xs.map((a) => a.name).join(",") || "none";
  if (meta.adapters.length !== adapters.length) {
    problems.push(
      `trained on ${meta.adapters.length} adapter(s) (${names(meta.adapters)}); ` +
        `${adapters.length} given (${names(adapters)}): pass the same --adapters, in order`,
    );
  } else {
    meta.adapters.forEach((want, i) => {
      const got = adapters[i];
      const diff = SHAPE_KEYS.filter((k) => JSON.stringify(want[k]) !== JSON.stringify(got[k]));
      if (diff.length) {
        problems.push(
          `adapter ${i + 1} was "${want.name}" (${want.dir}), given "${got.name}" (${got.dir}): ` +
            diff.map((k) => `${k} ${JSON.stringify(want[k])} vs ${JSON.stringify(got[k])}`)
              .join(", "),
        );
      }
    });
  }
  if (problems.length) throw new ProbeError(`${where}: ${problems.join("; ")}`);
  const layer = new ProbeMlmLayer(encoder.hidden, adapters.length, encoder.vocab, 0, {
    init: false,
  });
  const path = join(dir, MLM_WEIGHTS);
  try {
    let file;
    try {
      file = await openSafetensors(path);
    } catch (e) {
      if (e instanceof SafetensorsError || e instanceof Deno.errors.NotFound) {
        throw new ProbeError(`${path}: ${(e as Error).message}`);
      }
      throw e;
    }
    try {
      const want = new Map(layer.namedParameters().map(([n, t]) => [n, t.shape]));
      for (const n of want.keys()) if (!file.tensors.has(n)) problems.push(`missing ${n}`);
      for (const [n, info] of file.tensors) {
        const shape = want.get(n);
        if (!shape) problems.push(`unexpected ${n}`);
        else if (info.dtype !== "F32" || String(info.shape) !== String(shape)) {
          problems.push(`${n} is ${info.dtype} [${info.shape}], the layer has F32 [${shape}]`);
        }
      }
      if (problems.length) throw new ProbeError(`${path}: ${problems.join("; ")}`);
      for (const [n, t] of layer.namedParameters()) {
        upload(t.buffer, t.offset * 4, await file.readF32(n));
      }
    } finally {
      file.close();
    }
  } catch (e) {
    layer.dispose();
    throw e;
  }
  return { layer, meta };
}

// --- Training -------------------------------------------------------------------------------

/** Mean cross-entropy of the layer's predictions at the masked positions. */
export function probeMlmLoss(
  features: AdapterFeatures,
  layer: ProbeMlmLayer,
  b: MaskedBatch,
): Tensor {
  const logits = layer.logits(features.features(b.batch), b.rows);
  return crossEntropy(logits, Tensor.from(b.gold, [b.gold.length], "i32"));
}

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
}

export interface ProbeMlmResult extends TrainResult {
  /** Dev metrics of the final weights (none without dev data). */
  dev: Record<string, number> | null;
  mlmDir: string;
  bestDir: string | null;
}

/** Settings a resumed run must share with the run it continues. */
const FIXED = [
  "adapters",
  "batch",
  "accumulate",
  "lr",
  "epochs",
  "steps",
  "warmup",
  "maxLength",
  "seed",
  "maskProbability",
];

/** Masked-token loss and accuracy over examples, each masked by its own fixed seed. */
export async function evaluateProbeMlm(
  features: AdapterFeatures,
  layer: ProbeMlmLayer,
  ex: Examples,
  m: MlmMasking,
  seed: number,
  batchSize: number,
  padId: number,
): Promise<{ loss: number; accuracy: number; tokens: number }> {
  let lossSum = 0, correct = 0, tokens = 0;
  for (let i = 0; i < ex.length; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, ex.length - i) }, (_, j) => i + j);
    const b = devMaskedBatch(ex, idx, m, padId, seed);
    if (b.rows.length === 0) continue;
    const logits = tidy(() => noGrad(() => layer.logits(features.features(b.batch), b.rows)));
    try {
      const r = await maskedScores(logits, b.gold);
      lossSum += r.lossSum;
      correct += r.correct;
      tokens += b.rows.length;
    } finally {
      logits.dispose();
    }
  }
  return {
    loss: tokens ? lossSum / tokens : NaN,
    accuracy: tokens ? correct / tokens : NaN,
    tokens,
  };
}

/** `kadapter probe train-mlm`: trains the MLM layer on a frozen encoder and adapters. */
export async function trainProbeMlm(o: ProbeMlmOptions): Promise<ProbeMlmResult> {
  const say = sayer(o);
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
  };
  await openRun(o.out, o.resume, config, FIXED);
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const encoder = await FrozenRoberta.fromFolder(o.model, { f16: o.f16, lmHead: false });
  const d = encoder.dims;
  let adapters: NamedAdapter[] = [];
  let layer: ProbeMlmLayer | null = null;
  try {
    if (o.maxLength > maxSequence(d)) {
      throw new ProbeError(
        `max length ${o.maxLength} exceeds the model's ${maxSequence(d)} positions`,
      );
    }
    if (tok.padId !== d.padId || tok.vocabSize > d.vocab) {
      throw new ProbeError(
        `${o.model}: the tokenizer (pad ${tok.padId}, ${tok.vocabSize} ids) does not fit the ` +
          `model (pad ${d.padId}, ${d.vocab} ids)`,
      );
    }
    adapters = await loadAdapters(o.adapters, encoder);
    const features = new AdapterFeatures(encoder, adapters.map((a) => a.adapter));
    const m = masking(tok, tok.vocabSize, probability);
    const load = (path: string, split: string | undefined, limit?: number) =>
      loadCorpus(tok, d.vocab, path, {
        maxLength: o.maxLength,
        split,
        limit,
        progress: o.progress,
        say,
      });
    const trainEx = await load(o.corpus, o.split, o.limit);
    const devEx = o.dev ? await load(o.dev, o.devSplit, o.devLimit) : null;
    layer = new ProbeMlmLayer(d.hidden, adapters.length, d.vocab, o.seed);
    const l = layer;
    const shared = loopOptions(o, trainEx.length), total = shared.steps;
    const base: BaseModelInfo = {
      model_type: "roberta",
      hidden_size: d.hidden,
      num_hidden_layers: d.layers,
      vocab_size: d.vocab,
    };
    const exportTo = (dir: string, step: number, dev: Record<string, number> | null) =>
      saveProbeMlm(dir, l, {
        base,
        adapters: adapters.map((a) => a.summary),
        training: { ...config, step, total_steps: total, dev_metrics: dev },
      });
    const evals = new EvalTracker(o.out, "kadapter probe train-mlm");
    say(
      `MLM layer: ${l.parameterCount().toLocaleString("en-US")} trainable parameters over ` +
        (adapters.length === 0
          ? "the last hidden state"
          : `cat(last, ${adapters.map((a) => a.name).join(", ")})`) +
        `; encoder (${d.layers} layers, ` +
        `${encoder.dtype}) and adapters frozen; ${total} steps of ${o.batch} examples`,
    );
    const result = await train<MaskedBatch>({
      ...shared,
      params: l.namedParameters(),
      makeBatch: (indices) => maskedBatch(trainEx, indices, m, d.padId, o.seed),
      loss: (b) => probeMlmLoss(features, l, b),
      evaluate: devEx
        ? async () => {
          const r = await evaluateProbeMlm(
            features,
            l,
            devEx,
            m,
            o.seed,
            o.evalBatch,
            d.padId,
          );
          return { loss: r.loss, accuracy: r.accuracy };
        }
        : undefined,
      onEval: evals.onEval,
      saveBest: (dir) => exportTo(dir, evals.last!.step, evals.last!.metrics),
      bestMetric: "loss",
      higherIsBetter: false,
      config,
    });
    const dev = evals.at(result.step);
    const mlmDir = join(o.out, "mlm");
    await exportTo(mlmDir, result.step, dev);
    await evals.plot();
    return { ...result, dev, mlmDir, bestDir: result.best ? join(o.out, "best") : null };
  } finally {
    layer?.dispose();
    adapters.forEach((a) => a.adapter.dispose());
    encoder.dispose();
  }
}

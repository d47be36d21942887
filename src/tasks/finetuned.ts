// The fine-tuned model folder (best/ and model/ of a `kadapter finetune` run), self-contained:
//
//   encoder/              model folder (config.json, model.safetensors, tokenizer files)
//   adapters/<name>/      adapter folders (adapter_config.json + adapter.safetensors)
//   fusion.safetensors    fusion layers (absent when the fusion has none: add mode, no adapter)
//   head.safetensors      the task head
//   finetune_config.json  task, label list, fusion mode, adapter order, max length,
//                         tokenization, head sizes
//
// `loadFinetuned` rebuilds the model from such a folder for `kadapter eval` / `predict`.
import { join } from "node:path";
import { recover, writeFolderAtomic, writeTextAtomic } from "../formats/atomic.ts";
import type { SchemaName } from "../formats/schemas.ts";
import { loadState, saveState } from "../formats/state.ts";
import type { FiniteOptions } from "../formats/finite.ts";
import { type Tokenization, UNRECORDED_TOKENIZATION } from "../formats/tokenization.ts";
import { copyTokenizerFiles, RobertaTokenizer } from "../formats/tokenizer.ts";
import type { AdapterConfig } from "../models/adapter_config.ts";
import { type AdapterMeta, loadAdapter, saveAdapterFolder } from "../models/adapter_folder.ts";
import { baseModelInfo } from "../models/encoder_identity.ts";
import { type FusionMode, KAdapterEncoder } from "../models/fusion.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import { RobertaModel } from "../models/roberta.ts";
import type { Module } from "../nn/module.ts";
import { RunError } from "../train/run.ts";
import type { FinetuneTask, Finetuning, TaskHead, TaskSettings } from "./finetune_task.ts";
import { finetuneTask } from "./finetune_tasks.ts";
import { checkFinetuneConfig } from "./finetuned_config.ts";
import {
  type LoadOptions,
  loadSplit,
  type Split,
  type Store,
  type Task,
  type TaskOutput,
} from "./task.ts";

export const FINETUNE_FORMAT = "kadapter-finetune/1";
export const FINETUNE_CONFIG = "finetune_config.json";
const FUSION_WEIGHTS = "fusion.safetensors", HEAD_WEIGHTS = "head.safetensors";

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
  /** How task text becomes ids; eval / predict encode with it (absent in old folders: hf). */
  tokenization: Tokenization;
  head: { hidden: number; labels: number; dropout: number };
  training: Record<string, unknown>;
}

/** A split scored by a fine-tuned model: what was read and kept, and the task's output. */
export interface Scored {
  split: Pick<Split<unknown>, "report" | "dropped" | "rows">;
  /** Examples the split gave (several per row for some tasks). */
  examples: number;
  output: TaskOutput;
}

/** What `eval` / `predict` use of a fine-tuned model, whatever its task. */
export interface Finetuned {
  readonly config: FinetuneConfig;
  /** Encodes a data file with the model's labels and max length, and scores it. */
  score(path: string, opts: LoadOptions, batchSize: number): Promise<Scored>;
  dispose(): void;
}

/** A fine-tuned model: encoder + adapters + fusion (the features) and the head. */
export class FinetunedModel<S extends SchemaName, E, St extends Store<E>, H extends TaskHead>
  implements Finetuned {
  readonly task: Task<S, E, St, Finetuning<H>>;
  readonly model: Finetuning<H>;

  constructor(
    readonly kind: FinetuneTask<S, E, St, H>,
    readonly config: FinetuneConfig,
    readonly encoder: KAdapterEncoder,
    readonly head: H,
    readonly tok: RobertaTokenizer,
    /** The adapter folders' metadata, by name (written again on save). */
    readonly adapterMeta: Map<string, AdapterMeta>,
  ) {
    const d = encoder.roberta.dims;
    this.task = kind.task(
      {
        tok,
        maxLength: config.maxLength,
        vocab: d.vocab,
        padId: d.padId,
        tokenization: config.tokenization,
      },
      config.labels,
    );
    this.model = { features: (b) => encoder.features(b), head, modules: [encoder] };
  }

  /** Encodes a split with the model's labels and max length. */
  load(path: string, opts: LoadOptions = {}): Promise<Split<St>> {
    return loadSplit(this.task, path, opts);
  }

  /** Metrics and predictions on encoded data (eval mode; train mode after). */
  run(data: Split<St>, batchSize: number): Promise<TaskOutput> {
    return this.task.evaluate(this.model, data, batchSize);
  }

  async score(path: string, opts: LoadOptions, batchSize: number): Promise<Scored> {
    const split = await this.load(path, opts);
    if (split.ex.length === 0) throw new RunError(`${path}: no usable examples`);
    return { split, examples: split.ex.length, output: await this.run(split, batchSize) };
  }

  /** Writes the folder atomically; `tokenizerFrom` holds the tokenizer files. */
  async save(dir: string, tokenizerFrom: string, training: Record<string, unknown>) {
    const c: FinetuneConfig = { ...this.config, training };
    // The adapters record the encoder saved beside them (its sizes and vocabulary's hash).
    const base = baseModelInfo(this.encoder.roberta.dims, this.tok);
    await writeFolderAtomic(dir, async (tmp) => {
      const enc = join(tmp, "encoder");
      await this.encoder.roberta.save(enc);
      await copyTokenizerFiles(tokenizerFrom, enc);
      for (const [name, a] of this.encoder.adapters) {
        const meta = this.adapterMeta.get(name) ?? { name, task: "untrained" };
        await saveAdapterFolder(join(tmp, "adapters", name), a, { ...meta, base });
      }
      const pt = { format: "pt" };
      if (this.encoder.fusion.parameterCount() > 0) {
        await saveState(join(tmp, FUSION_WEIGHTS), this.encoder.fusion.namedParameters(), pt);
      }
      await saveState(join(tmp, HEAD_WEIGHTS), this.head.namedParameters(), pt);
      await writeTextAtomic(join(tmp, FINETUNE_CONFIG), JSON.stringify(c, null, 2) + "\n");
    });
  }

  dispose(): void {
    this.head.dispose();
    this.encoder.dispose();
  }
}

/** Loads a weight file into a module; every tensor must be there with its exact shape. */
function loadWeights(path: string, m: Module, opts: FiniteOptions): Promise<void> {
  return loadState(
    path,
    m.namedParameters(),
    (p, problems) => new RunError(`${p}: ${problems.join("; ")}`),
    opts,
  );
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
export async function loadFinetuned(dir: string, opts: FiniteOptions = {}): Promise<Finetuned> {
  const root = await finetunedFolder(dir);
  const path = join(root, FINETUNE_CONFIG);
  let c: FinetuneConfig;
  try {
    c = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new RunError(`${path} is not JSON (${e.message}); the folder is damaged`);
  }
  const format = (c as { format?: unknown } | null)?.format;
  if (format !== FINETUNE_FORMAT) {
    throw new RunError(`${path}: format must be ${FINETUNE_FORMAT}, not ${JSON.stringify(format)}`);
  }
  checkFinetuneConfig(path, c);
  c.tokenization ??= UNRECORDED_TOKENIZATION;
  return await finetuneTask(c.task, c.settings ?? {}).use<Promise<Finetuned>>((kind) =>
    rebuild(kind, root, c, opts)
  );
}

async function rebuild<S extends SchemaName, E, St extends Store<E>, H extends TaskHead>(
  kind: FinetuneTask<S, E, St, H>,
  root: string,
  c: FinetuneConfig,
  opts: FiniteOptions,
): Promise<FinetunedModel<S, E, St, H>> {
  const tok = await RobertaTokenizer.fromFolder(join(root, "encoder"));
  const { allowNonFinite } = opts;
  const roberta = await RobertaModel.load(join(root, "encoder"), { lmHead: false, allowNonFinite });
  const adapters: [string, AdapterModel][] = [], meta = new Map<string, AdapterMeta>();
  let enc: KAdapterEncoder | null = null, head: H | null = null;
  try {
    const d = roberta.dims;
    for (const a of c.adapters) {
      const r = await loadAdapter(join(root, "adapters", a.name), {
        hidden: d.hidden,
        layers: d.layers,
      }, opts);
      adapters.push([a.name, r.adapter]);
      if (!a.untrained) meta.set(a.name, r.meta);
    }
    enc = new KAdapterEncoder(roberta, adapters, {
      mode: c.fusion,
      freezeEncoder: c.freezeEncoder,
      trainAdapters: c.trainAdapters,
      padTo: c.maxLength,
    });
    if (enc.fusion.parameterCount() > 0) {
      await loadWeights(join(root, FUSION_WEIGHTS), enc.fusion, opts);
    }
    if (c.head.hidden !== d.hidden) {
      throw new RunError(
        `${join(root, FINETUNE_CONFIG)}: head.hidden is ${c.head.hidden}, the encoder's ` +
          `hidden size ${d.hidden}: the folder is damaged or mixed from two runs`,
      );
    }
    head = kind.head(c.head.hidden, c.head.labels, c.head.dropout, 0);
    await loadWeights(join(root, HEAD_WEIGHTS), head, opts);
    enc.eval();
    head.eval();
    return new FinetunedModel(kind, c, enc, head, tok, meta);
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

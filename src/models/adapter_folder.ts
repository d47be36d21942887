// The adapter-only export format (AdapterHub's layout): a folder with adapter_config.json (the
// AdapterConfig under the released K-Adapter code's names, plus the encoder it was trained on)
// and adapter.safetensors, optionally with a task head (head_config.json, model_head.safetensors).
// It is loadable without the training run. Loading checks every tensor (present, expected,
// F32, exact shape) before uploading any: the released code silently kept random weights on a
// shape mismatch.
import { brief, UserError } from "../errors.ts";
import { dirname, join } from "node:path";
import { recover, writeFolderAtomic, writeTextAtomic } from "../formats/atomic.ts";
import { CONFIG_BOUNDS, ModelFolderError } from "../formats/hf_config.ts";
import { isObject, parseJsonStrict } from "../formats/json.ts";
import {
  type Tokenization,
  TOKENIZATIONS,
  UNRECORDED_TOKENIZATION,
} from "../formats/tokenization.ts";
import { loadState, openChecked, readInto, saveState } from "../formats/state.ts";
import type { FiniteOptions } from "../formats/finite.ts";
import type { Module } from "../nn/module.ts";
import {
  type AdapterConfig,
  adapterConfig,
  adapterProblems,
  adapterShapes,
} from "./adapter_config.ts";
import type { HeadConfig } from "./kadapter_heads.ts";
import { type BaseModelInfo, SHA256_HEX } from "./encoder_identity.ts";
import { AdapterModel } from "./kadapter.ts";
import {
  isReleasedAdapterFolder,
  loadReleasedAdapter,
  type ReleasedAdapter,
} from "./released_adapter.ts";

export const ADAPTER_CONFIG = "adapter_config.json",
  ADAPTER_WEIGHTS = "adapter.safetensors",
  HEAD_CONFIG = "head_config.json",
  HEAD_WEIGHTS = "model_head.safetensors";
const ADAPTER_FORMAT = "kadapter-adapter/1", HEAD_FORMAT = "kadapter-head/1";

export interface AdapterMeta {
  name: string;
  task: string;
  base: BaseModelInfo;
  /** How its training data became ids; a folder without the field was `hf`. */
  tokenization?: Tokenization;
  /** Free-form: hyperparameters, steps, dev metrics. */
  training?: Record<string, unknown>;
}

export interface HeadMeta {
  task: string;
  config: HeadConfig;
  /** fac: relation ids in class order. */
  labels: string[] | null;
  maxLength: number | null;
  loss: "ce" | "bce" | null;
}

/** Anything wrong with an adapter folder; the message starts with the file (or folder). */
export class AdapterFolderError extends UserError {
  constructor(readonly where: string, readonly problems: string[]) {
    const more = problems.length > 8 ? `; and ${problems.length - 8} more` : "";
    super(
      problems.length === 1
        ? `${where}: ${problems[0]}`
        : `${where}: ${problems.length} problems: ${problems.slice(0, 8).join("; ")}${more}`,
    );
  }
}

type Json = Record<string, unknown>;
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 1;

/** Field checks that collect every problem of one JSON object. */
class Fields {
  readonly problems: string[] = [];
  /** `prefix` names a nested object's fields (`base_model.`). */
  constructor(readonly json: Json, readonly prefix = "") {}

  #get<T>(key: string, ok: (v: unknown) => boolean, want: string): T {
    const v = this.json[key], at = this.prefix + key;
    if (!Object.hasOwn(this.json, key)) this.problems.push(`missing ${at}`);
    else if (!ok(v)) this.problems.push(`${at} must be ${want}, not ${brief(v)}`);
    return v as T;
  }
  count(key: string): number {
    return this.#get(key, isCount, "a positive integer");
  }
  text(key: string): string {
    return this.#get(key, (v) => typeof v === "string" && v.length > 0, "a non-empty string");
  }
  oneOf<T extends string>(key: string, values: readonly T[]): T {
    return this.#get(key, (v) => values.includes(v as T), values.map((v) => `"${v}"`).join(" or "));
  }
  /** A probability in [0, 1). */
  prob(key: string): number {
    return this.#get(key, (v) => typeof v === "number" && v >= 0 && v < 1, "in [0, 1)");
  }
  positive(key: string): number {
    return this.#get(
      key,
      (v) => typeof v === "number" && v > 0 && v < 1,
      "a small positive number",
    );
  }
  /** An absent key reads as null. */
  nullable<T>(key: string, ok: (v: unknown) => boolean, want: string): T | null {
    if (!Object.hasOwn(this.json, key) || this.json[key] === null) return null;
    return this.#get(key, ok, `${want} or null`);
  }
  format(format: string): void {
    if (this.json.format !== format) {
      this.problems.push(`format must be "${format}", not ${brief(this.json.format)}`);
    }
  }
}

function adapterJson(config: AdapterConfig, meta: AdapterMeta): Json {
  return {
    format: ADAPTER_FORMAT,
    name: meta.name,
    task: meta.task,
    base_model: meta.base,
    project_hidden_size: config.hidden,
    adapter_size: config.adapterHidden,
    num_attention_heads: config.heads,
    intermediate_size: config.intermediate,
    adapter_transformer_layers: config.layers,
    adapter_list: config.adapterList,
    hidden_dropout_prob: config.dropout,
    layer_norm_eps: config.layerNormEps,
    adapter_initializer_range: config.initStd,
    adapter_mask: config.mask,
    combine: config.combine,
    ...(meta.tokenization === undefined ? {} : { tokenization: meta.tokenization }),
    ...(meta.training === undefined ? {} : { training: meta.training }),
  };
}

function parseAdapterJson(
  json: unknown,
  where: string,
): { config: AdapterConfig; meta: AdapterMeta } {
  if (!isObject(json)) throw new AdapterFolderError(where, ["must be a JSON object"]);
  const f = new Fields(json);
  f.format(ADAPTER_FORMAT);
  const name = f.text("name"), task = f.text("task");
  let base = json.base_model as BaseModelInfo;
  if (!isObject(base)) f.problems.push("base_model must be an object");
  else {
    const b = new Fields(base, "base_model.");
    base = {
      model_type: b.text("model_type"),
      hidden_size: b.count("hidden_size"),
      num_hidden_layers: b.count("num_hidden_layers"),
      vocab_size: b.count("vocab_size"),
    };
    const hash = (json.base_model as Json).vocab_sha256;
    if (typeof hash === "string" && SHA256_HEX.test(hash)) base.vocab_sha256 = hash;
    else if (hash !== undefined) {
      b.problems.push(
        `base_model.vocab_sha256 must be 64 lowercase hex digits, not ${brief(hash)}`,
      );
    }
    f.problems.push(...b.problems);
  }
  const hidden = f.count("project_hidden_size"), heads = f.count("num_attention_heads");
  const adapterHidden = f.count("adapter_size");
  const over = {
    adapterHidden,
    heads,
    intermediate: f.count("intermediate_size"),
    layers: f.count("adapter_transformer_layers"),
    dropout: f.prob("hidden_dropout_prob"),
    layerNormEps: f.positive("layer_norm_eps"),
    initStd: f.positive("adapter_initializer_range"),
    mask: f.oneOf("adapter_mask", ["all", "padding"] as const),
    combine: f.oneOf("combine", ["sum", "concat"] as const),
  };
  const list = json.adapter_list, layers = isObject(base) ? base.num_hidden_layers : NaN;
  if (
    isCount(hidden) && isObject(base) && isCount(base.hidden_size) && hidden !== base.hidden_size
  ) {
    f.problems.push(
      `project_hidden_size ${hidden} differs from base_model.hidden_size ${base.hidden_size}`,
    );
  }
  if (isObject(base)) {
    for (const k of ["hidden_size", "num_hidden_layers", "vocab_size"] as const) {
      const v = base[k];
      if (isCount(v) && v > CONFIG_BOUNDS[k]) {
        f.problems.push(`base_model.${k} ${v} is above ${CONFIG_BOUNDS[k]}`);
      }
    }
  }
  // Bounds, heads and adapter_list (the type problems are already listed).
  const shape = { hidden, ...over, adapterList: list } as AdapterConfig;
  f.problems.push(
    ...adapterProblems(shape, isCount(layers) ? layers : Infinity).filter((p) =>
      !p.includes("must be a positive integer") &&
      !(p.includes("are not hidden states") && !isCount(layers))
    ),
  );
  const tokenization = Object.hasOwn(json, "tokenization")
    ? f.oneOf("tokenization", TOKENIZATIONS)
    : UNRECORDED_TOKENIZATION;
  if (Object.hasOwn(json, "training") && !isObject(json.training)) {
    f.problems.push("training must be an object");
  }
  if (f.problems.length) throw new AdapterFolderError(where, f.problems);
  const meta: AdapterMeta = { name, task, base, tokenization };
  if (json.training !== undefined) meta.training = json.training as Json;
  const config = adapterConfig(hidden, base.num_hidden_layers, {
    ...over,
    adapterList: list as number[],
  });
  return { config, meta };
}

function headJson(head: HeadMeta): Json {
  const c = head.config;
  return {
    format: HEAD_FORMAT,
    task: head.task,
    hidden_size: c.hidden,
    num_labels: c.labels,
    hidden_dropout_prob: c.dropout,
    layer_norm_eps: c.layerNormEps,
    labels: head.labels,
    max_length: head.maxLength,
    loss: head.loss,
  };
}

function parseHeadJson(json: unknown, where: string, hidden: number): HeadMeta {
  if (!isObject(json)) throw new AdapterFolderError(where, ["must be a JSON object"]);
  const f = new Fields(json);
  f.format(HEAD_FORMAT);
  const task = f.text("task");
  const config: HeadConfig = {
    hidden: f.count("hidden_size"),
    labels: f.count("num_labels"),
    dropout: f.prob("hidden_dropout_prob"),
    layerNormEps: f.positive("layer_norm_eps"),
  };
  const labels = f.nullable<string[]>(
    "labels",
    (v) => Array.isArray(v) && v.every((x) => typeof x === "string"),
    "an array of strings",
  );
  const maxLength = f.nullable<number>("max_length", isCount, "a positive integer");
  const loss = f.nullable<"ce" | "bce">("loss", (v) => v === "ce" || v === "bce", '"ce", "bce"');
  if (labels && isCount(config.labels) && labels.length !== config.labels) {
    f.problems.push(`labels holds ${labels.length} names for num_labels ${config.labels}`);
  }
  if (isCount(config.hidden) && config.hidden !== hidden) {
    f.problems.push(`hidden_size ${config.hidden} differs from the adapter's ${hidden}`);
  }
  if (f.problems.length) throw new AdapterFolderError(where, f.problems);
  return { task, config, labels, maxLength, loss };
}

/** The parsed JSON file, or null when `optional` and it does not exist. */
async function readJson(path: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (optional && e instanceof Deno.errors.NotFound) return null;
    const dir = dirname(path);
    if (e instanceof Deno.errors.NotFound && !await Deno.stat(dir).then(() => true, () => false)) {
      throw new AdapterFolderError(dir, [
        "no such folder (an adapter folder holds " +
        `${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}, as \`kadapter train fac|lin\` writes it)`,
      ]);
    }
    const why = e instanceof Deno.errors.NotFound ? "missing (not an adapter folder?)" : String(e);
    throw new AdapterFolderError(path, [why]);
  }
  try {
    return parseJsonStrict(text);
  } catch (e) {
    throw new AdapterFolderError(path, [`not valid JSON (${(e as Error).message})`]);
  }
}

/** Writes the folder atomically (writeFolderAtomic), replacing an existing one. */
export async function saveAdapterFolder(
  dir: string,
  adapter: AdapterModel,
  meta: AdapterMeta,
  head?: { module: Module; meta: HeadMeta },
): Promise<void> {
  // Validate through the reader, so a folder this writes always loads.
  const aj = adapterJson(adapter.config, meta);
  parseAdapterJson(aj, join(dir, ADAPTER_CONFIG));
  const hj = head ? headJson(head.meta) : null;
  if (hj) parseHeadJson(hj, join(dir, HEAD_CONFIG), adapter.config.hidden);
  // "format": "pt" is what transformers and AdapterHub expect of a PyTorch state dict.
  const pt = { format: "pt" };
  await writeFolderAtomic(dir, async (tmp) => {
    await saveState(join(tmp, ADAPTER_WEIGHTS), adapter.namedParameters(), pt);
    await writeTextAtomic(join(tmp, ADAPTER_CONFIG), JSON.stringify(aj, null, 2) + "\n");
    if (head && hj) {
      await saveState(join(tmp, HEAD_WEIGHTS), head.module.namedParameters(), pt);
      await writeTextAtomic(join(tmp, HEAD_CONFIG), JSON.stringify(hj, null, 2) + "\n");
    }
  });
}

async function readAdapterConfig(dir: string) {
  await recover(dir);
  const where = join(dir, ADAPTER_CONFIG);
  return parseAdapterJson(await readJson(where, false), where);
}

/** Parses and validates the JSON files (no GPU work). head is null without head_config.json. */
export async function readAdapterFolder(
  dir: string,
): Promise<{ config: AdapterConfig; meta: AdapterMeta; head: HeadMeta | null }> {
  const { config, meta } = await readAdapterConfig(dir);
  const where = join(dir, HEAD_CONFIG), json = await readJson(where, true);
  return { config, meta, head: json === null ? null : parseHeadJson(json, where, config.hidden) };
}

const folderError = (path: string, problems: string[]) => new AdapterFolderError(path, problems);

/** loadReleasedAdapter with its folder problems as an AdapterFolderError. */
export async function loadReleased(
  ...args: Parameters<typeof loadReleasedAdapter>
): Promise<ReleasedAdapter> {
  try {
    return await loadReleasedAdapter(...args);
  } catch (e) {
    if (e instanceof ModelFolderError) throw new AdapterFolderError(e.where, e.problems);
    throw e;
  }
}

/**
 * Builds the AdapterModel from adapter_config.json and loads adapter.safetensors into it, or
 * loads a folder the released code saved (released_adapter.ts); eval mode. `base`, when given, must match base_model's hidden_size and num_hidden_layers.
 */
export async function loadAdapter(
  dir: string,
  base?: { hidden: number; layers: number },
  opts: FiniteOptions = {},
): Promise<{ adapter: AdapterModel; meta: AdapterMeta; config: AdapterConfig }> {
  if (await isReleasedAdapterFolder(dir, ADAPTER_CONFIG)) {
    const { adapter, config, task, base: b } = await loadReleased(dir, base, opts);
    return { adapter, config, meta: { name: task, task, base: b, tokenization: "original" } };
  }
  const { config, meta } = await readAdapterConfig(dir);
  const b = meta.base;
  if (base && (base.hidden !== b.hidden_size || base.layers !== b.num_hidden_layers)) {
    throw new AdapterFolderError(join(dir, ADAPTER_CONFIG), [
      `adapter "${meta.name}" was trained on a ${b.model_type} encoder with hidden_size ` +
      `${b.hidden_size} and ${b.num_hidden_layers} layers; this encoder has hidden_size ` +
      `${base.hidden} and ${base.layers} layers`,
    ]);
  }
  const file = await openChecked(join(dir, ADAPTER_WEIGHTS), adapterShapes(config), folderError);
  // Built only once the file is known to fit; its random init is then overwritten.
  const adapter = new AdapterModel(config, 0).eval();
  try {
    await readInto(file, adapter.namedParameters(), opts, folderError);
  } catch (e) {
    adapter.dispose();
    throw e;
  } finally {
    file.close();
  }
  return { adapter, meta, config };
}

/** Loads model_head.safetensors into an already-built head module (built from HeadMeta). */
export async function loadHeadWeights(
  dir: string,
  head: Module,
  opts: FiniteOptions = {},
): Promise<void> {
  await recover(dir);
  await loadState(join(dir, HEAD_WEIGHTS), head.namedParameters(), folderError, opts);
}

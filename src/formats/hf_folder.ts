// Hugging Face model folders: config.json plus model.safetensors, or shards listed in
// model.safetensors.index.json, or else pytorch_model.bin or the shards listed in
// pytorch_model.bin.index.json (read by the restricted unpickler, torch_bin.ts, which runs no
// code from the file), in transformers' order of preference. Opening checks the folder whole (index
// against shards); resolveWeights matches the names a model expects against the
// folder's (with or without "roberta.", the tied decoder, position_ids ignored) and reports
// every problem at once, so nothing ever loads silently into random weights; loading streams
// one tensor at a time into GPU tensors.
import { basename, join } from "node:path";
import { UserError } from "../errors.ts";
import { writeTextAtomic } from "./atomic.ts";
import { ModelFolderError, parseConfig, readConfig, type RobertaConfig } from "./hf_config.ts";
import { robertaDims, robertaShapes } from "../models/roberta_config.ts";
import { isObject, parseJsonStrict } from "./json.ts";
import {
  entryBytes,
  openSafetensors,
  type SafetensorsDType,
  type SafetensorsEntry,
  writeSafetensors,
} from "./safetensors.ts";
import { piecesOf, type Shapes, shapesOf, type State, tensorWriter } from "./state.ts";
import { FiniteCheck, type FiniteOptions } from "./finite.ts";
import { checkConfigFits } from "./model_check.ts";
import { openTorchBin, type TorchBinFile } from "./torch_bin.ts";

export const WEIGHTS_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";
export const PICKLE_FILE = "pytorch_model.bin";
export const PICKLE_INDEX_FILE = "pytorch_model.bin.index.json";

/** What loading needs of a weight file, safetensors or PyTorch's. */
export interface WeightFile {
  readonly path: string;
  readF32(name: string): Promise<Float32Array>;
}

export interface StoredTensor {
  file: WeightFile;
  info: { dtype: SafetensorsDType; shape: readonly number[] };
}

export interface FolderWeights {
  dir: string;
  /** Every tensor in the folder by name, with the file holding it. */
  tensors: ReadonlyMap<string, StoredTensor>;
  close(): void;
}

export interface ModelFolder {
  config: RobertaConfig;
  weights: FolderWeights;
}

// A name as the Hugging Face hub spells models: `name` or `org/name`, of a model family.
const HUB_NAME = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;
const FAMILY = /roberta|bert|gpt|xlm|electra|albert|t5|llama|-(base|large|small|cased|uncased)/i;

/**
 * Throws a ModelFolderError unless `dir` is a folder, saying what to do: a hub name
 * (roberta-large, FacebookAI/roberta-base) is not downloaded, so it says how to get one.
 */
export async function checkModelFolder(dir: string, flag = "--model"): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw new ModelFolderError(dir, [String(e)]);
    const hub = HUB_NAME.test(dir) && (dir.includes("/") || FAMILY.test(dir));
    throw new ModelFolderError(dir, [
      hub
        ? `no such folder, and kadapter does not download Hugging Face hub names: get the ` +
          `model folder first (git lfs install && git clone https://huggingface.co/${dir}, ` +
          `or huggingface-cli download ${dir} --local-dir ${basename(dir)}) and pass its ` +
          `path, ${flag} ./${basename(dir)}`
        : `no such folder (${flag} takes a model folder: config.json, the weights and ` +
          `tokenizer.json; \`kadapter model init --preset tiny --out DIR\` makes one)`,
    ]);
  }
  if (!info.isDirectory) {
    throw new ModelFolderError(dir, [
      `is a file; ${flag} takes a model folder (config.json, the weights, tokenizer.json)`,
    ]);
  }
}

/**
 * Reads config.json and opens the weights, checked against each other (layer count, every
 * encoder tensor's shape) before anything is allocated; close `weights` when done.
 */
export async function openModelFolder(dir: string): Promise<ModelFolder> {
  const config = await readConfig(dir);
  const weights = await openWeights(dir);
  try {
    checkConfigFits(config, join(dir, "config.json"), weights.tensors);
    resolveWeights(weights, robertaShapes(robertaDims(config), false));
  } catch (e) {
    weights.close();
    throw e;
  }
  return { config, weights };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new ModelFolderError(path, [(e as Error).message]);
  }
}

/**
 * Opens model.safetensors, or else every shard the index names, or else pytorch_model.bin (as
 * transformers prefers).
 */
export async function openWeights(dir: string): Promise<FolderWeights> {
  if (await exists(join(dir, WEIGHTS_FILE))) {
    const file = await openSafetensors(join(dir, WEIGHTS_FILE));
    const tensors = new Map([...file.tensors].map(([n, info]) => [n, { file, info }]));
    return { dir, tensors, close: () => file.close() };
  }
  if (await exists(join(dir, INDEX_FILE))) {
    return await openSharded(dir, INDEX_FILE, openSafetensors);
  }
  if (await exists(join(dir, PICKLE_FILE))) {
    const file = await openPickle(dir, join(dir, PICKLE_FILE));
    const tensors = new Map([...file.tensors].map(([n, info]) => [n, { file, info }]));
    return { dir, tensors, close: () => file.close() };
  }
  if (await exists(join(dir, PICKLE_INDEX_FILE))) {
    return await openSharded(dir, PICKLE_INDEX_FILE, (path) => openPickle(dir, path));
  }
  throw await noWeights(dir);
}

/** Opens a PyTorch pickle; a file the restricted unpickler refuses gets a safe recipe. */
async function openPickle(dir: string, path: string): Promise<TorchBinFile> {
  const py = (s: string) => JSON.stringify(s);
  try {
    return await openTorchBin(path);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    throw new ModelFolderError(dir, [
      `${e.message}. If the file is one you trust, convert it once to ${WEIGHTS_FILE} in ` +
      `Python (pip install torch safetensors): import torch; from safetensors.torch import ` +
      `save_file; sd = torch.load(${py(path)}, map_location="cpu", weights_only=True); ` +
      `save_file({k: v.contiguous().clone() for k, v in sd.items()}, ` +
      `${py(join(dir, WEIGHTS_FILE))}, metadata={"format": "pt"})`,
    ]);
  }
}

/** A shard file of either kind: its tensors by name, read through the file. */
interface ShardFile extends WeightFile {
  readonly tensors: ReadonlyMap<string, StoredTensor["info"]>;
  close(): void;
}

/** Opens every shard an index (`model.safetensors.index.json` or the .bin one) names. */
async function openSharded(
  dir: string,
  indexFile: string,
  open: (path: string) => Promise<ShardFile>,
): Promise<FolderWeights> {
  const where = join(dir, indexFile);
  let index: unknown;
  try {
    index = parseJsonStrict(await Deno.readTextFile(where));
  } catch (e) {
    throw new ModelFolderError(where, [`not a valid index: ${(e as Error).message}`]);
  }
  if (!isObject(index) || !isObject(index.weight_map)) {
    throw new ModelFolderError(where, ["must hold a weight_map {tensor name: shard file}"]);
  }
  const map = index.weight_map, problems: string[] = [];
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map)) {
    // Shards live in the folder itself: a path could reach files elsewhere.
    if (typeof shard !== "string" || /[/\\]/.test(shard) || shard === "." || shard === "..") {
      problems.push(`${name}: shard ${JSON.stringify(shard)} is not a file name in the folder`);
    } else if (byShard.has(shard)) byShard.get(shard)!.push(name);
    else byShard.set(shard, [name]);
  }
  if (problems.length > 0) throw new ModelFolderError(where, problems);
  const shardOf = (n: string) => (Object.hasOwn(map, n) ? map[n] : undefined);
  const files: ShardFile[] = [], tensors = new Map<string, StoredTensor>();
  const close = () => files.forEach((f) => f.close());
  try {
    for (const [shard, names] of byShard) {
      const path = join(dir, shard);
      if (!(await exists(path))) {
        const some = names.length > 3 ? `${names.slice(0, 3).join(", ")}, ...` : names.join(", ");
        problems.push(`shard ${shard} is missing (the index places ${some} there)`);
        continue;
      }
      let file: ShardFile;
      try {
        file = await open(path);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        problems.push(e.message);
        continue;
      }
      files.push(file);
      for (const n of names) {
        if (!file.tensors.has(n)) {
          problems.push(`shard ${shard} lacks ${n}, which the index places there`);
        }
      }
      for (const [n, info] of file.tensors) {
        if (shardOf(n) === shard) {
          tensors.set(n, { file, info });
        } else {
          const other = shardOf(n) ?? "no shard";
          problems.push(`shard ${shard} holds ${n}, which the index places in ${other}`);
        }
      }
    }
    if (problems.length > 0) throw new ModelFolderError(where, problems);
  } catch (e) {
    close();
    throw e;
  }
  return { dir, tensors, close };
}

/** The error for a folder without weights kadapter reads: lists what is there. */
async function noWeights(dir: string): Promise<ModelFolderError> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    return new ModelFolderError(dir, [`cannot read the model folder: ${(e as Error).message}`]);
  }
  // Other names (model.pt, checkpoints) are not read: transformers does not either.
  const pickles = names.filter((n) => /\.(bin|pt|pth|ckpt)$/i.test(n));
  const hint = pickles.length > 0
    ? ` (of PyTorch files kadapter reads only ${PICKLE_FILE} and the shards its index names, ` +
      `not ${pickles.join(", ")})`
    : "";
  return new ModelFolderError(dir, [
    `no ${WEIGHTS_FILE}, ${INDEX_FILE}, ${PICKLE_FILE} or ${PICKLE_INDEX_FILE}${hint} ` +
    `(the folder holds: ${names.join(", ") || "nothing"})`,
  ]);
}

/** What a model needs: each parameter's name and shape, e.g. from namedParameters(). */
export type Expected = Shapes;

export interface WeightPlan {
  /** For each expected name, in order: the folder tensor that supplies it. */
  sources: { name: string; source: string; shape: readonly number[] }[];
  /** Folder tensors that no expected name uses, to warn about (position_ids never appear). */
  unused: string[];
}

/** Where a name may also be found: masked-LM decoders are tied to the input embeddings. */
const TIED: Record<string, string> = {
  "lm_head.decoder.weight": "embeddings.word_embeddings.weight",
  "lm_head.decoder.bias": "lm_head.bias",
  "lm_head.bias": "lm_head.decoder.bias",
};
const FLOATS = new Set(["F32", "F16", "BF16"]);

/** The encoder's names appear with "roberta." (masked-LM checkpoints) or without. */
function spellings(name: string): string[] {
  if (name.startsWith("lm_head.")) return [name];
  return name.startsWith("roberta.") ? [name, name.slice(8)] : [name, "roberta." + name];
}
const isPositionIds = (n: string) => n.replace(/^roberta\./, "") === "embeddings.position_ids";

/**
 * Matches expected names to the folder's tensors; throws one ModelFolderError listing every
 * missing tensor, wrong shape and non-float dtype.
 */
export function resolveWeights(weights: FolderWeights, expected: Expected): WeightPlan {
  const problems: string[] = [], sources: WeightPlan["sources"] = [], used = new Set<string>();
  for (const [name, shape] of expected) {
    const looked = [...spellings(name), ...(TIED[name] ? spellings(TIED[name]) : [])];
    const source = looked.find((n) => weights.tensors.has(n));
    if (source === undefined) {
      problems.push(`missing ${name} (looked for ${looked.join(", ")})`);
      continue;
    }
    used.add(source);
    const { file, info } = weights.tensors.get(source)!;
    const at = `${source} in ${basename(file.path)}`;
    if (!FLOATS.has(info.dtype)) {
      problems.push(`${at} is ${info.dtype}; parameters load from F32, F16 or BF16`);
    } else if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${at} has shape [${info.shape}], the model expects [${shape}] for ${name}`);
    } else sources.push({ name, source, shape });
  }
  if (problems.length > 0) throw new ModelFolderError(weights.dir, problems);
  const unused = [...weights.tensors.keys()].filter((n) => !used.has(n) && !isPositionIds(n));
  unused.sort();
  return { sources, unused };
}

/** Streams each expected tensor as f32 to `sink`, one at a time, in `expected` order. */
export async function loadWeights(
  weights: FolderWeights,
  expected: Expected,
  sink: (name: string, data: Float32Array) => void | Promise<void>,
): Promise<WeightPlan> {
  const plan = resolveWeights(weights, expected);
  for (const { name, source } of plan.sources) {
    await sink(name, await weights.tensors.get(source)!.file.readF32(source));
  }
  return plan;
}

/**
 * Loads into existing dense f32 or f16 GPU tensors, such as a model's namedParameters(). A
 * name may map to several tensors: pieces of consecutive rows of the one stored tensor (a
 * table larger than a storage binding). Host memory holds one tensor (and a bounded amount
 * of queued writes, see tensorWriter) at a time. NaN/Inf values are then refused, naming the
 * tensors (finite.ts), unless `opts.allowNonFinite` (a warning).
 */
export async function loadIntoTensors(
  weights: FolderWeights,
  params: State,
  opts: FiniteOptions = {},
): Promise<WeightPlan> {
  const targets = new Map(params), finite = new FiniteCheck(), write = tensorWriter();
  const plan = resolveWeights(weights, shapesOf(params));
  for (const { name, source } of plan.sources) {
    const { file } = weights.tensors.get(source)!, target = targets.get(name)!;
    const data = await file.readF32(source);
    finite.add(file.path, source, piecesOf(target), data);
    await write(target, data);
  }
  await finite.verify((f, p) => new ModelFolderError(f, p), opts);
  return plan;
}

export interface FolderWriteOptions {
  /** Weights above this many bytes are split into shards (transformers' default: 5 GB). */
  maxShardBytes?: number;
}

/**
 * Writes config.json and the weights (one file, or shards plus an index past maxShardBytes),
 * each file atomically. Tensors keep their given order across shards. The config is checked
 * first, so a folder that would not load is never written.
 */
export async function writeModelFolder(
  dir: string,
  config: Record<string, unknown>,
  entries: readonly SafetensorsEntry[],
  opts: FolderWriteOptions = {},
): Promise<void> {
  parseConfig(config, join(dir, "config.json"));
  const max = opts.maxShardBytes ?? 5e9;
  const shards: SafetensorsEntry[][] = [];
  let size = 0;
  for (const e of entries) {
    if (shards.length === 0 || (size > 0 && size + entryBytes(e) > max)) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(e);
    size += entryBytes(e);
  }
  await Deno.mkdir(dir, { recursive: true });
  const meta = { format: "pt" }; // transformers refuses safetensors files without it
  // The layout not written now is removed, since model.safetensors would win over an index.
  let stale = INDEX_FILE;
  if (shards.length <= 1) await writeSafetensors(join(dir, WEIGHTS_FILE), entries, meta);
  else {
    const weightMap: [string, string][] = [];
    const pad = (i: number) => String(i).padStart(5, "0");
    for (const [i, shard] of shards.entries()) {
      const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
      await writeSafetensors(join(dir, file), shard, meta);
      for (const e of shard) weightMap.push([e.name, file]);
    }
    weightMap.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const totalSize = entries.reduce((n, e) => n + entryBytes(e), 0);
    const index = {
      metadata: { total_size: totalSize },
      weight_map: Object.fromEntries(weightMap),
    };
    await writeTextAtomic(join(dir, INDEX_FILE), JSON.stringify(index, null, 2) + "\n");
    stale = WEIGHTS_FILE;
  }
  await Deno.remove(join(dir, stale)).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await writeTextAtomic(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
}

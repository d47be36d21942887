// Adapters as the released K-Adapter code saved them (fac-adapter.py, lin-adapter.py
// save_pretrained): a folder with config.json (the encoder's RobertaConfig; the adapter's own
// settings were command-line flags and were not saved) and pytorch_model.bin (the pretraining
// model's whole state dict: adapter.{i}.* under the names kadapter keeps, and the head:
// com_dense, dense, out_proj, and lin's self_attention). The adapter's sizes are read from its
// tensors; what the tensors cannot tell is taken from the released code and scripts: 12 inner
// heads (its AdapterConfig), adapter_list 0,11,22 for roberta-large (defaultAdapterList),
// adapter_skip_layers 0 and the summed combination (every released script's flags).
import { join } from "node:path";
import { ModelFolderError, readConfig } from "../formats/hf_config.ts";
import {
  type FolderWeights,
  loadIntoTensors,
  openWeights,
  PICKLE_FILE,
  resolveWeights,
} from "../formats/hf_folder.ts";
import type { FiniteOptions } from "../formats/finite.ts";
import {
  type AdapterConfig,
  adapterConfig,
  adapterProblems,
  adapterShapes,
  defaultAdapterList,
} from "./adapter_config.ts";
import { type BaseModelInfo, baseModelInfo } from "./encoder_identity.ts";
import { AdapterModel } from "./kadapter.ts";
import { hasReleasedHead, loadReleasedHead, type ReleasedHead } from "./released_head.ts";

const RELEASED_HEADS = 12;

export interface ReleasedAdapter {
  adapter: AdapterModel;
  config: AdapterConfig;
  /**
   * lin's head has a self-attention layer; fac's has none. "unknown": the file holds no head
   * tensors (the released code always saved them), so its kind cannot be told.
   */
  task: "fac" | "lin" | "unknown";
  /** Without vocab_sha256: the folder holds no tokenizer. */
  base: BaseModelInfo;
  /** The pretraining head, when asked for and the file holds one (released_head.ts). */
  head: ReleasedHead | null;
}

/** Counts i = 0, 1, ... while `name(i)` is in the file. */
function count(w: FolderWeights, name: (i: number) => string): number {
  let n = 0;
  while (w.tensors.has(name(n))) n++;
  return n;
}

/** The adapter's config from its tensors' shapes; throws listing what does not fit. */
function inferConfig(dir: string, w: FolderWeights, hidden: number, layers: number) {
  const fail = (p: string) => new ModelFolderError(dir, [p]);
  const n = count(w, (i) => `adapter.${i}.down_project.weight`);
  if (n === 0) {
    throw fail("no adapter.0.down_project.weight: not a K-Adapter adapter checkpoint");
  }
  const [adapterHidden, h] = w.tensors.get("adapter.0.down_project.weight")!.info.shape;
  if (h !== hidden) {
    throw fail(`adapter.0.down_project.weight reads ${h} features; config.json has ${hidden}`);
  }
  const inner = count(w, (j) => `adapter.0.encoder.layer.${j}.attention.self.query.weight`);
  const ffn = w.tensors.get("adapter.0.encoder.layer.0.intermediate.dense.weight");
  if (inner === 0 || !ffn) throw fail("adapter.0 has no inner transformer layers");
  const adapterList = defaultAdapterList(layers);
  if (adapterList.length !== n) {
    throw fail(
      `holds ${n} adapter layers; the released scripts' adapter_list for a ${layers}-layer ` +
        `encoder (${adapterList}) has ${adapterList.length}`,
    );
  }
  if (adapterHidden % RELEASED_HEADS !== 0) {
    throw fail(`adapter_size ${adapterHidden} is not a multiple of the released 12 heads`);
  }
  const shape: AdapterConfig = {
    ...adapterConfig(hidden, layers),
    adapterHidden,
    heads: RELEASED_HEADS,
    intermediate: ffn.info.shape[0],
    layers: inner,
    adapterList,
  };
  const problems = adapterProblems(shape, layers);
  if (problems.length > 0) throw new ModelFolderError(dir, problems);
  // Every tensor's shape, before the adapter is built.
  resolveWeights(w, adapterShapes(shape));
  return shape;
}

/**
 * Loads a released adapter folder (eval mode). `base`, when given, must match config.json's
 * hidden_size and num_hidden_layers. Every adapter tensor must be present with its shape.
 * With `opts.head`, the pretraining head is loaded too (null when the file holds none).
 */
export async function loadReleasedAdapter(
  dir: string,
  base?: { hidden: number; layers: number },
  opts: { head?: boolean } & FiniteOptions = {},
): Promise<ReleasedAdapter> {
  const c = await readConfig(dir);
  if (base && (base.hidden !== c.hidden_size || base.layers !== c.num_hidden_layers)) {
    throw new ModelFolderError(dir, [
      `the adapter was trained on an encoder with hidden_size ${c.hidden_size} and ` +
      `${c.num_hidden_layers} layers; this encoder has hidden_size ${base.hidden} and ` +
      `${base.layers} layers`,
    ]);
  }
  const weights = await openWeights(dir);
  try {
    const config = inferConfig(dir, weights, c.hidden_size, c.num_hidden_layers);
    const adapter = new AdapterModel(config, 0).eval();
    try {
      await loadIntoTensors(weights, adapter.namedParameters(), opts);
    } catch (e) {
      adapter.dispose();
      throw e;
    }
    const withHead = hasReleasedHead(weights);
    const task = [...weights.tensors.keys()].some((n) => n.startsWith("self_attention."))
      ? "lin"
      : withHead
      ? "fac"
      : "unknown";
    const model_type = typeof c.model_type === "string" ? c.model_type : "roberta";
    let head: ReleasedHead | null = null;
    if (opts.head && task !== "unknown") {
      try {
        head = await loadReleasedHead(dir, weights, c, task);
      } catch (e) {
        adapter.dispose();
        throw e;
      }
    }
    return {
      adapter,
      config,
      task,
      head,
      base: baseModelInfo(
        { hidden: c.hidden_size, layers: c.num_hidden_layers, vocab: c.vocab_size },
        null,
        model_type,
      ),
    };
  } finally {
    weights.close();
  }
}

/** A folder the released code saved: pytorch_model.bin and no `configFile` (kadapter's). */
export async function isReleasedAdapterFolder(dir: string, configFile: string) {
  const has = (f: string) =>
    Deno.stat(join(dir, f)).then(() => true, (e) => {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    });
  return !(await has(configFile)) && await has(PICKLE_FILE);
}

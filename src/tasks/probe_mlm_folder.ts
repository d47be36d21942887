// The MLM layer's folder (format "kadapter-probe-mlm/1"): mlm_config.json (the encoder's
// sizes, the adapters it was trained with, the feature, training settings) and
// mlm.safetensors (decoder.weight [vocab, (1 + k) * H], decoder.bias [vocab], F32). Loading
// refuses an encoder or adapters other than those the layer was trained with.
import { join } from "node:path";
import { recover, writeFolderAtomic, writeTextAtomic } from "../formats/atomic.ts";
import { isObject, parseJsonStrict } from "../formats/json.ts";
import { loadState, saveState } from "../formats/state.ts";
import type { BaseModelInfo } from "../models/encoder_identity.ts";
import type { AdapterSummary } from "../models/named_adapters.ts";
import { ProbeError } from "./probe_error.ts";
import { ProbeMlmLayer } from "./probe_mlm_layer.ts";

export const MLM_CONFIG = "mlm_config.json", MLM_WEIGHTS = "mlm.safetensors";
export const MLM_FORMAT = "kadapter-probe-mlm/1";
export const MLM_FEATURE = "cat(last, adapters...)";

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

export interface ProbeMlmMeta {
  base: BaseModelInfo;
  adapters: AdapterSummary[];
  /** Free-form: hyperparameters, steps, dev metrics. */
  training?: Record<string, unknown>;
}

type Json = Record<string, unknown>;

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
    await saveState(join(tmp, MLM_WEIGHTS), layer.namedParameters(), { format: "pt" });
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
  const error = (p: string, why: string[]) => new ProbeError(`${p}: ${why.join("; ")}`);
  try {
    await loadState(join(dir, MLM_WEIGHTS), layer.namedParameters(), error);
  } catch (e) {
    layer.dispose();
    throw e;
  }
  return { layer, meta };
}

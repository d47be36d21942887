// Adapter folders loaded under their --adapters names for a frozen encoder, each with the
// summary of its shape (not its weights) that an MLM layer's config records, so that a layer
// is only ever loaded with the adapters it was trained on. Each folder must fit the encoder
// (encoder_identity.ts checkAdapterFits).
import type { AdapterConfig } from "./adapter_config.ts";
import type { FiniteOptions } from "../formats/finite.ts";
import { AdapterFolderError, loadAdapter } from "./adapter_folder.ts";
import { type AdapterFit, checkAdapterFits } from "./encoder_identity.ts";
import type { AdapterModel } from "./kadapter.ts";
import type { FrozenRoberta } from "./roberta_frozen.ts";

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

/**
 * Loads `--adapters` folders for an encoder (eval mode), each checked against `fit` (the
 * encoder's identity and --force); frees them all on an error.
 */
export async function loadAdapters(
  specs: readonly { name: string; dir: string }[],
  encoder: FrozenRoberta,
  fit: AdapterFit,
  finite: FiniteOptions = {},
): Promise<NamedAdapter[]> {
  const out: NamedAdapter[] = [], d = encoder.dims;
  try {
    for (const { name, dir } of specs) {
      try {
        const { adapter, meta, config } = await loadAdapter(dir, {
          hidden: d.hidden,
          layers: d.layers,
        }, finite);
        out.push({ name, dir, adapter, summary: adapterSummary(name, dir, meta.task, config) });
        checkAdapterFits(name, dir, meta, fit);
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

// A tiny frozen encoder (vocab 30, hidden 16, 2 layers, pad id 1) and adapter model with O(1)
// weights, shared by the fac and lin task tests; each test adds its own head.
import { parseConfig } from "../../src/formats/hf_config.ts";
import { adapterConfig } from "../../src/models/adapter_config.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import type { Module } from "../../src/nn/module.ts";
import { InfusionModel } from "../../src/tasks/infusion.ts";

export const H = 16, LAYERS = 2, PAD = 1;
/** The padded length the adapter (mask "all") sees: the most 16 positions allow. */
export const MAX_LENGTH = 14;

/** The model with `makeHead(seed + 2)`; dispose() frees all of it. */
export function tinyInfusion<M extends Module>(
  seed: number,
  makeHead: (seed: number) => M,
  dropout = 0.1,
) {
  const enc = new RobertaModel(
    parseConfig({
      vocab_size: 30,
      hidden_size: H,
      num_hidden_layers: LAYERS,
      num_attention_heads: 2,
      intermediate_size: 32,
      max_position_embeddings: 16,
      type_vocab_size: 1,
      layer_norm_eps: 1e-5,
      pad_token_id: PAD,
      hidden_act: "gelu",
    }, "test"),
    seed,
  ).eval();
  const frozen = FrozenRoberta.fromModel(enc);
  const adapter = new AdapterModel(
    adapterConfig(H, LAYERS, {
      adapterHidden: 12,
      heads: 2,
      intermediate: 24,
      adapterList: [0, 1],
      initStd: 0.2,
      dropout,
    }),
    seed + 1,
  );
  const head = makeHead(seed + 2);
  const model = new InfusionModel(frozen, adapter, MAX_LENGTH);
  const dispose = () => {
    for (const m of [enc, adapter, head]) m.dispose();
    frozen.dispose();
  };
  return { model, adapter, head, dispose };
}

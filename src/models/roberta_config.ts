// RoBERTa's shape from a Hugging Face config.json: the dimensions the modules are built from,
// the presets `model init` writes, and the full list of parameter names and shapes (to size a
// model's weights without building it).
import type { RobertaConfig } from "../formats/hf_config.ts";
import type { TransformerConfig } from "../nn/config.ts";

export interface RobertaDims extends TransformerConfig {
  vocab: number;
  maxPositions: number;
  typeVocab: number;
  layers: number;
  padId: number;
}

export function robertaDims(c: RobertaConfig): RobertaDims {
  return {
    hidden: c.hidden_size,
    heads: c.num_attention_heads,
    intermediate: c.intermediate_size,
    hiddenDropout: c.hidden_dropout_prob,
    attentionDropout: c.attention_probs_dropout_prob,
    layerNormEps: c.layer_norm_eps,
    initRange: c.initializer_range,
    vocab: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    typeVocab: c.type_vocab_size,
    layers: c.num_hidden_layers,
    padId: c.pad_token_id,
  };
}

/** Longest input (special tokens included): positions start at pad_token_id + 1. */
export function maxSequence(d: RobertaDims): number {
  return d.maxPositions - d.padId - 1;
}

/** Layer sizes of the presets; base and large are roberta-base's and roberta-large's. */
export const PRESETS = {
  tiny: { hidden: 64, layers: 2, heads: 4, intermediate: 128, maxPositions: 130, merges: 2000 },
  base: {
    hidden: 768,
    layers: 12,
    heads: 12,
    intermediate: 3072,
    maxPositions: 514,
    merges: 50000,
  },
  large: {
    hidden: 1024,
    layers: 24,
    heads: 16,
    intermediate: 4096,
    maxPositions: 514,
    merges: 50000,
  },
} as const;
export type Preset = keyof typeof PRESETS;

/** config.json of a RobertaForMaskedLM with a preset's sizes, as transformers writes it. */
export function presetConfig(preset: Preset, vocab: number): RobertaConfig {
  const p = PRESETS[preset];
  return {
    architectures: ["RobertaForMaskedLM"],
    model_type: "roberta",
    vocab_size: vocab,
    hidden_size: p.hidden,
    num_hidden_layers: p.layers,
    num_attention_heads: p.heads,
    intermediate_size: p.intermediate,
    hidden_act: "gelu",
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    max_position_embeddings: p.maxPositions,
    type_vocab_size: 1,
    initializer_range: 0.02,
    layer_norm_eps: 1e-5,
    pad_token_id: 1,
    bos_token_id: 0,
    eos_token_id: 2,
    position_embedding_type: "absolute",
    torch_dtype: "float32",
  };
}

export type Shapes = [string, number[]][];

/** Every parameter's HF name (no "roberta." prefix) and shape, in RobertaModel's order. */
export function robertaShapes(d: RobertaDims, lmHead: boolean): Shapes {
  const h = d.hidden, f = d.intermediate;
  const linear = (n: string, out: number, inF: number): Shapes => [
    [`${n}.weight`, [out, inF]],
    [`${n}.bias`, [out]],
  ];
  const norm = (n: string): Shapes => [[`${n}.weight`, [h]], [`${n}.bias`, [h]]];
  const out: Shapes = [
    ["embeddings.word_embeddings.weight", [d.vocab, h]],
    ["embeddings.position_embeddings.weight", [d.maxPositions, h]],
    ["embeddings.token_type_embeddings.weight", [d.typeVocab, h]],
    ...norm("embeddings.LayerNorm"),
  ];
  for (let l = 0; l < d.layers; l++) {
    const p = `encoder.layer.${l}.`;
    out.push(
      ...linear(`${p}attention.self.query`, h, h),
      ...linear(`${p}attention.self.key`, h, h),
      ...linear(`${p}attention.self.value`, h, h),
      ...linear(`${p}attention.output.dense`, h, h),
      ...norm(`${p}attention.output.LayerNorm`),
      ...linear(`${p}intermediate.dense`, f, h),
      ...linear(`${p}output.dense`, h, f),
      ...norm(`${p}output.LayerNorm`),
    );
  }
  if (lmHead) {
    out.push(
      ["lm_head.bias", [d.vocab]],
      ...linear("lm_head.dense", h, h),
      ...norm("lm_head.layer_norm"),
    );
  }
  return out;
}

// Shape and behaviour of a K-Adapter adapter model (kadapter-reference.md section 3), with the
// released code's choices as defaults and the paper's as options.
import { brief, UserError } from "../errors.ts";
import type { TransformerConfig } from "../nn/config.ts";

export interface AdapterConfig {
  /** The encoder's hidden size H (the code's project_hidden_size). */
  hidden: number;
  /** Inner hidden size A of the adapter's transformer layers (the code's adapter_size). */
  adapterHidden: number;
  heads: number;
  /** Feed-forward width of the inner layers. */
  intermediate: number;
  /** Inner transformer layers per adapter layer (adapter_transformer_layers). */
  layers: number;
  /** Indices into hidden_states (0 = embedding output); one adapter layer each. */
  adapterList: number[];
  /** Hidden and attention-probability dropout of the inner layers. */
  dropout: number;
  layerNormEps: number;
  /** Std of the normal init of down_project/up_project weights (code: normal_(std=0.0002)). */
  initStd: number;
  /**
   * "all": inner attention sees every position, padding included (the code's all-ones mask).
   * "padding": padded keys are masked out.
   */
  mask: "all" | "padding";
  /**
   * "sum": input_i = hidden_states[adapterList[i]] + out_{i-1} (the code).
   * "concat": input_i = fuse.i(cat(hidden_states[adapterList[i]], out_{i-1})), Linear 2H->H,
   * for i >= 1 (the paper's wording); the first layer has nothing to concatenate and reads
   * its hidden state alone, where the code's concat mode crashed.
   */
  combine: "sum" | "concat";
}

/**
 * The default adapter_list of an encoder with L layers: [0, L/2 - 1, L - 2], which is the
 * released scripts' 0,11,22 for roberta-large and 0,5,10 for roberta-base (first, middle and
 * second-to-last state). Shallow encoders get the distinct values of that list.
 */
export function defaultAdapterList(encoderLayers: number): number[] {
  if (!Number.isInteger(encoderLayers) || encoderLayers < 1) {
    throw new Error(`encoder layer count must be a positive integer, got ${encoderLayers}`);
  }
  const L = encoderLayers;
  return [...new Set([0, Math.max(0, Math.floor(L / 2) - 1), Math.max(0, L - 2)])];
}

/**
 * The adapter shape a new adapter gets unless told: the released code's (768 wide, 12 heads
 * of 64, feed-forward 3072) on encoders at least 768 wide, scaled down on narrower ones (as
 * wide as the encoder, heads of 64 or one head, feed-forward 4x), so a first run on a small
 * encoder trains an adapter of its size, not one many times larger. `over` wins.
 */
export function newAdapterShape(
  hidden: number,
  over: Partial<AdapterConfig> = {},
): Partial<AdapterConfig> {
  const size = over.adapterHidden ?? Math.min(768, hidden);
  const heads = over.heads ?? (size % 64 === 0 ? size / 64 : 1);
  return { ...over, adapterHidden: size, heads, intermediate: over.intermediate ?? 4 * size };
}

/** The released code's adapter for an encoder of `hidden` width and `encoderLayers` depth. */
export function adapterConfig(
  hidden: number,
  encoderLayers: number,
  over: Partial<AdapterConfig> = {},
): AdapterConfig {
  const c: AdapterConfig = {
    hidden,
    adapterHidden: 768,
    heads: 12,
    intermediate: 3072,
    layers: 2,
    adapterList: defaultAdapterList(encoderLayers),
    dropout: 0.1,
    layerNormEps: 1e-5,
    initStd: 0.0002,
    mask: "all",
    combine: "sum",
    ...over,
  };
  const problems = adapterProblems(c, encoderLayers);
  if (problems.length > 0) throw new AdapterConfigError(problems);
  return c;
}

/** An adapter shape out of bounds (adapterProblems), before anything is built. */
export class AdapterConfigError extends UserError {
  constructor(readonly problems: string[]) {
    super(`adapter config: ${problems.join("; ")}`);
  }
}

/**
 * The largest adapter sizes: far above the released adapters' (adapter_size 768, 12 heads,
 * feed-forward 3072, 2 inner layers, 3 adapter layers), yet small enough that a corrupted
 * adapter_config.json is refused before it sizes an absurd allocation.
 */
export const ADAPTER_BOUNDS = {
  project_hidden_size: 16384,
  adapter_size: 16384,
  num_attention_heads: 1024,
  intermediate_size: 131072,
  adapter_transformer_layers: 64,
  adapter_list: 64,
} as const;

/**
 * Every problem of an adapter shape, under adapter_config.json's names: sizes positive
 * integers within ADAPTER_BOUNDS, adapter_size a multiple of the heads, adapter_list 1 to 64
 * distinct hidden states of an `encoderLayers`-layer encoder (0 .. encoderLayers).
 */
export function adapterProblems(c: AdapterConfig, encoderLayers: number): string[] {
  const out: string[] = [];
  const sizes: [keyof typeof ADAPTER_BOUNDS, unknown][] = [
    ["project_hidden_size", c.hidden],
    ["adapter_size", c.adapterHidden],
    ["num_attention_heads", c.heads],
    ["intermediate_size", c.intermediate],
    ["adapter_transformer_layers", c.layers],
  ];
  for (const [k, v] of sizes) {
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      out.push(`${k} must be a positive integer, not ${brief(v)}`);
    } else if ((v as number) > ADAPTER_BOUNDS[k]) {
      out.push(`${k} ${v} is above ${ADAPTER_BOUNDS[k]}, more than any adapter needs`);
    }
  }
  if (out.length === 0 && c.adapterHidden % c.heads !== 0) {
    out.push(`adapter_size ${c.adapterHidden} is not a multiple of num_attention_heads ${c.heads}`);
  }
  const list: unknown = c.adapterList;
  if (!Array.isArray(list) || list.length === 0) {
    out.push("adapter_list must be a non-empty array of hidden-state indices");
  } else if (list.length > ADAPTER_BOUNDS.adapter_list) {
    out.push(`adapter_list holds ${list.length} entries, more than ${ADAPTER_BOUNDS.adapter_list}`);
  } else {
    const bad = list.filter((i) => !(Number.isInteger(i) && i >= 0 && i <= encoderLayers));
    if (bad.length) {
      out.push(
        `adapter_list entries ${brief(bad)} are not hidden states of a ` +
          `${encoderLayers}-layer encoder (0 .. ${encoderLayers})`,
      );
    } else if (new Set(list).size !== list.length) {
      out.push(`adapter_list ${brief(list)} repeats a hidden state`);
    }
  }
  return out;
}

/** The inner transformer layers' config; initRange is unused (they get PyTorch's init). */
export function innerConfig(c: AdapterConfig): TransformerConfig {
  return {
    hidden: c.adapterHidden,
    heads: c.heads,
    intermediate: c.intermediate,
    hiddenDropout: c.dropout,
    attentionDropout: c.dropout,
    layerNormEps: c.layerNormEps,
    initRange: c.initStd,
  };
}

type Shapes = [string, number[]][];

const lin = (p: string, inF: number, outF: number): Shapes => [
  [`${p}.weight`, [outF, inF]],
  [`${p}.bias`, [outF]],
];
const norm = (p: string, n: number): Shapes => [[`${p}.weight`, [n]], [`${p}.bias`, [n]]];

/** One post-LN BERT layer's parameters under prefix `p` (HF names, registration order). */
export function bertLayerShapes(p: string, h: number, ffn: number): Shapes {
  return [
    ...lin(`${p}attention.self.query`, h, h),
    ...lin(`${p}attention.self.key`, h, h),
    ...lin(`${p}attention.self.value`, h, h),
    ...lin(`${p}attention.output.dense`, h, h),
    ...norm(`${p}attention.output.LayerNorm`, h),
    ...lin(`${p}intermediate.dense`, h, ffn),
    ...lin(`${p}output.dense`, ffn, h),
    ...norm(`${p}output.LayerNorm`, h),
  ];
}

/** Every parameter of an adapter model as [name, shape], without allocating anything. */
export function adapterShapes(c: AdapterConfig): Shapes {
  const out: Shapes = [];
  c.adapterList.forEach((_, i) => {
    const p = `adapter.${i}.`;
    out.push(...lin(`${p}down_project`, c.hidden, c.adapterHidden));
    for (let j = 0; j < c.layers; j++) {
      out.push(...bertLayerShapes(`${p}encoder.layer.${j}.`, c.adapterHidden, c.intermediate));
    }
    out.push(...lin(`${p}up_project`, c.adapterHidden, c.hidden));
  });
  if (c.combine === "concat") {
    for (let i = 1; i < c.adapterList.length; i++) {
      out.push(...lin(`fuse.${i}`, 2 * c.hidden, c.hidden));
    }
  }
  return out;
}

export function adapterParamCount(c: AdapterConfig): number {
  return adapterShapes(c).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
}

// Float64 CPU references of downstream K-Adapter features (eval mode): the whole RoBERTa
// encoder's hidden states, the adapters reading them (kadapter_reference.ts) and the fusion,
// with parameters looked up by KAdapterEncoder's names (`roberta.`, `adapters.<name>.`,
// `fusion.`).
import type { AdapterConfig } from "../../src/models/adapter_config.ts";
import type { FusionMode } from "../../src/models/fusion.ts";
import type { EncoderInput } from "../../src/models/roberta_inputs.ts";
import { layerNorm, linear, type Params, transformerLayer } from "../nn_reference.ts";
import { adapterModel, cat } from "./kadapter_reference.ts";

const get = (P: Params, name: string) => {
  const v = P.get(name);
  if (!v) throw new Error(`reference: no parameter ${name}`);
  return v;
};

/** The parameters under `prefix`, with the prefix removed. */
export function sub(P: Params, prefix: string): Params {
  const out: Params = new Map();
  for (const [n, v] of P) if (n.startsWith(prefix)) out.set(n.slice(prefix.length), v);
  return out;
}

export interface EncoderDims {
  hidden: number;
  heads: number;
  layers: number;
  eps: number;
  padId: number;
}

/** hidden_states [0 .. layers] of RoBERTa (P: `roberta.`-prefixed names). */
export function robertaStates(P: Params, d: EncoderDims, input: EncoderInput): Float64Array[] {
  const { batch, seqLen } = input, H = d.hidden;
  const word = get(P, "roberta.embeddings.word_embeddings.weight");
  const pos = get(P, "roberta.embeddings.position_embeddings.weight");
  const type0 = get(P, "roberta.embeddings.token_type_embeddings.weight");
  const x = new Float64Array(batch * seqLen * H);
  for (let b = 0; b < batch; b++) {
    let seen = 0;
    for (let s = 0; s < seqLen; s++) {
      const r = b * seqLen + s, id = input.inputIds[r];
      const p = id === d.padId ? d.padId : d.padId + ++seen;
      for (let i = 0; i < H; i++) x[r * H + i] = word[id * H + i] + type0[i] + pos[p * H + i];
    }
  }
  const c = { batch, seq: seqLen, hidden: H, heads: d.heads, eps: d.eps };
  const states: Float64Array[] = [
    layerNorm(
      x,
      get(P, "roberta.embeddings.LayerNorm.weight"),
      get(P, "roberta.embeddings.LayerNorm.bias"),
      d.eps,
    ),
  ];
  for (let l = 0; l < d.layers; l++) {
    states.push(
      transformerLayer(states[l], input.attentionMask, P, c, `roberta.encoder.layer.${l}.`),
    );
  }
  return states;
}

/** Fusion of last = h_L with the adapter outputs (P: `fusion.`-prefixed names). */
export function fusion(
  last: Float64Array,
  outs: Float64Array[],
  P: Params,
  names: string[],
  mode: FusionMode,
  H: number,
): Float64Array {
  const rows = last.length / H;
  if (outs.length === 0) return last;
  if (mode === "add") return last.map((v, j) => outs.reduce((s, o) => s + o[j], v));
  const dense = (x: Float64Array, p: string) =>
    linear(x, rows, get(P, `fusion.${p}.weight`), get(P, `fusion.${p}.bias`));
  const f = outs.map((o, i) => dense(cat(last, H, o, H), `task_dense_${names[i]}`));
  if (f.length === 1) return f[0];
  let x: Float64Array = f[0], w = H;
  for (const g of f.slice(1)) {
    x = cat(x, w, g, H);
    w += H;
  }
  return dense(x, "task_dense");
}

/** Task features from given hidden states; keep [batch, seq] 1 = token. */
export function fuse(
  states: Float64Array[],
  keep: number[],
  P: Params,
  adapters: [string, AdapterConfig][],
  mode: FusionMode,
  batch: number,
  seq: number,
): Float64Array {
  const H = states[0].length / (batch * seq);
  const outs = adapters.map(([n, c]) =>
    adapterModel(
      c.adapterList.map((i) => states[i]),
      keep,
      sub(P, `adapters.${n}.`),
      c,
      batch,
      seq,
    )
  );
  return fusion(states.at(-1)!, outs, P, adapters.map(([n]) => n), mode, H);
}

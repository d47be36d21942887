// Float64 CPU references of the K-Adapter adapter model and its fac/lin pretraining heads
// (eval mode), in plain loops over parameters looked up by their checkpoint names.
import type { AdapterConfig } from "../../src/models/adapter_config.ts";
import { attention, linear, type Params, transformerLayer } from "../nn_reference.ts";

const get = (P: Params, name: string) => {
  const v = P.get(name);
  if (!v) throw new Error(`reference: no parameter ${name}`);
  return v;
};
const dense = (x: Float64Array, rows: number, P: Params, p: string) =>
  linear(x, rows, get(P, `${p}.weight`), get(P, `${p}.bias`));

/** cat(a, b) along the last axis, rows of widths wa and wb. */
export function cat(a: Float64Array, wa: number, b: Float64Array, wb: number): Float64Array {
  const rows = a.length / wa, out = new Float64Array(rows * (wa + wb));
  for (let r = 0; r < rows; r++) {
    out.set(a.subarray(r * wa, (r + 1) * wa), r * (wa + wb));
    out.set(b.subarray(r * wb, (r + 1) * wb), r * (wa + wb) + wa);
  }
  return out;
}

/**
 * The adapter model: states[i] = hidden_states[adapterList[i]] [batch, seq, H] flattened;
 * keep [batch, seq] 1 = token (used in "padding" mode only).
 */
export function adapterModel(
  states: Float64Array[],
  keep: number[],
  P: Params,
  c: AdapterConfig,
  batch: number,
  seq: number,
): Float64Array {
  const rows = batch * seq, H = c.hidden;
  const inner = { batch, seq, hidden: c.adapterHidden, heads: c.heads, eps: c.layerNormEps };
  const k = c.mask === "padding" ? keep : keep.map(() => 1);
  let prev: Float64Array | null = null;
  states.forEach((h, i) => {
    const x: Float64Array = prev === null
      ? h
      : c.combine === "sum"
      ? h.map((v, j) => v + prev![j])
      : dense(cat(h, H, prev, H), rows, P, `fuse.${i}`);
    let y: Float64Array = dense(x, rows, P, `adapter.${i}.down_project`);
    for (let j = 0; j < c.layers; j++) {
      y = transformerLayer(y, k, P, inner, `adapter.${i}.encoder.layer.${j}.`);
    }
    const up = dense(y, rows, P, `adapter.${i}.up_project`);
    prev = x.map((v, j) => v + up[j]);
  });
  return prev!;
}

/** fac logits [batch, labels] from the rows at the subject and object markers. */
export function facHead(
  last: Float64Array,
  adapter: Float64Array,
  subj: number[],
  obj: number[],
  P: Params,
  H: number,
  seq: number,
): Float64Array {
  const com = dense(cat(last, H, adapter, H), last.length / H, P, "com_dense");
  const x = new Float64Array(subj.length * 2 * H);
  subj.forEach((s, b) => {
    x.set(com.subarray((b * seq + s) * H, (b * seq + s + 1) * H), 2 * b * H);
    x.set(com.subarray((b * seq + obj[b]) * H, (b * seq + obj[b] + 1) * H), (2 * b + 1) * H);
  });
  return dense(dense(x, subj.length, P, "dense"), subj.length, P, "out_proj");
}

/** lin logits [batch, seq, labels]; keep [batch, seq] masks padded keys. */
export function linHead(
  last: Float64Array,
  adapter: Float64Array,
  keep: number[],
  P: Params,
  H: number,
  batch: number,
  seq: number,
  eps: number,
): Float64Array {
  const rows = batch * seq;
  const com = dense(cat(last, H, adapter, H), rows, P, "com_dense");
  const ctx = attention(com, keep, P, { batch, seq, hidden: H, heads: 1, eps }, "self_attention.");
  return dense(dense(ctx, rows, P, "dense"), rows, P, "out_proj");
}

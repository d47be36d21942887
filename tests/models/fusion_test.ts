// Downstream K-Adapter features (src/models/fusion.ts): RoBERTa + adapters + fusion against a
// full float64 reference (encoder states computed in float64 too, fusion_reference.ts) for
// 0..3 adapters in both modes; gradients: every encoder and fusion weight gets one, frozen
// adapters none and stay bit-identical through an AdamW step, finite differences of the
// reference for encoder and fusion weights and for the hidden states fed to frozen adapters;
// the freeze/unfreeze options; names, init and argument checks.
import assert from "node:assert/strict";
import { upload } from "../../src/gpu/queue.ts";
import { parseConfig } from "../../src/formats/hf_config.ts";
import { type AdapterConfig, adapterConfig } from "../../src/models/adapter_config.ts";
import { Fusion, type FusionMode, KAdapterEncoder } from "../../src/models/fusion.ts";
import type { KAdapterEncoderOptions } from "../../src/models/fusion.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import type { EncoderInput } from "../../src/models/roberta_inputs.ts";
import { additiveMask } from "../../src/nn/attention.ts";
import type { Module } from "../../src/nn/module.ts";
import { AdamW } from "../../src/nn/optim.ts";
import { backward, mul, sumAll, Tensor } from "../../src/tensor/mod.ts";
import type { Params } from "../nn_reference.ts";
import type { Nd } from "../reference.ts";
import { assertClose, read, rms, type Rng, run, test, up } from "../setup.ts";
import * as ref from "./fusion_reference.ts";

const PAD = 1, B = 2, S = 5, H = 16, L = 2;
// The second example has two padding positions.
const KEEP = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
const INPUT: EncoderInput = {
  inputIds: [0, 5, 9, 7, 2, 0, 8, 2, PAD, PAD],
  attentionMask: KEEP,
  batch: B,
  seqLen: S,
};
const ROBERTA = parseConfig({
  vocab_size: 30,
  hidden_size: H,
  num_hidden_layers: L,
  num_attention_heads: 4,
  intermediate_size: 32,
  max_position_embeddings: 12,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  pad_token_id: PAD,
  hidden_act: "gelu",
}, "test");
const DIMS = { hidden: H, heads: 4, layers: L, eps: 1e-5, padId: PAD };
const acfg = (over: Partial<AdapterConfig>) =>
  adapterConfig(H, L, { adapterHidden: 12, heads: 2, intermediate: 24, layers: 1, ...over });
// Up to three adapters reading different states, with both masks and both combine modes.
const ADAPTERS: [string, AdapterConfig][] = [
  ["fac", acfg({ adapterList: [0, 2] })],
  ["lin", acfg({ adapterList: [1], mask: "padding" })],
  ["et", acfg({ adapterList: [0, 1, 2], combine: "concat" })],
];

/** O(1) random weights (LayerNorm gains near 1), so that every path matters. */
function randomize(m: Module, rng: Rng, scale = 0.3): void {
  for (const [name, t] of m.namedParameters()) {
    const gain = /LayerNorm\.weight$/.test(name) ? 1 : 0;
    upload(t.buffer, 0, Float32Array.from({ length: t.size }, () => gain + scale * rng.normal()));
  }
}

async function params(m: Module): Promise<Params> {
  const out: Params = new Map();
  for (const [n, t] of m.namedParameters()) out.set(n, Float64Array.from(await t.data()));
  return out;
}

/** Randomised encoder, the first k adapters and the fusion, in eval mode. */
function build(
  rng: Rng,
  k: number,
  mode: FusionMode,
  opts: KAdapterEncoderOptions = {},
): KAdapterEncoder {
  const adapters = ADAPTERS.slice(0, k).map(([n, c], i) =>
    [n, new AdapterModel(c, 10 + i)] as const
  );
  const m = new KAdapterEncoder(new RobertaModel(ROBERTA, 1), adapters, { mode, ...opts });
  randomize(m, rng);
  return m.eval();
}

const mask = () => Tensor.from(additiveMask(KEEP, B, S), [B, 1, 1, S]);
const dot = (a: Float64Array, r: Nd) => a.reduce((s, v, i) => s + v * r.data[i], 0);

/** The reference's features of the whole model. */
function reference(P: Params, k: number, mode: FusionMode): Float64Array {
  const states = ref.robertaStates(P, DIMS, INPUT);
  return ref.fuse(states, KEEP, P, ADAPTERS.slice(0, k), mode, B, S);
}

test("fusion: features match the float64 reference for 0..3 adapters, add and concat", async (rng) => {
  const cases: [number, FusionMode][] = [
    [0, "concat"],
    [1, "add"],
    [2, "add"],
    [1, "concat"],
    [2, "concat"],
    [3, "concat"],
  ];
  for (const [k, mode] of cases) {
    const m = build(rng, k, mode);
    const [got] = await run(() => [m.features(INPUT)]);
    const want = reference(await params(m), k, mode);
    assertClose(got, want, { atol: 2e-4, rtol: 1e-4 }, `${k} adapters, ${mode}`);
    m.dispose();
  }
});

test("fusion: encoder and fusion get gradients (FD-checked), frozen adapters none", async (rng) => {
  const m = build(rng, 2, "concat");
  const R = rng.randn([B, S, H]);
  const adaptersBefore = new Map<string, Float32Array>();
  for (const [n, t] of m.namedParameters()) {
    if (n.startsWith("adapters.")) adaptersBefore.set(n, new Float32Array(await t.data()));
  }
  assert.ok(adaptersBefore.size > 0);
  await run(() => {
    backward(sumAll(mul(m.features(INPUT), up(R))));
    return [];
  });
  const grads = new Map<string, Float64Array>();
  for (const [n, t] of m.namedParameters()) {
    if (n.startsWith("adapters.")) assert.equal(t.grad, null, `frozen ${n} got a gradient`);
    else {
      assert.ok(t.grad, `no gradient reached ${n}`);
      grads.set(n, await read(t.grad));
    }
  }
  assert.ok([...grads.keys()].some((n) => n.startsWith("roberta.")));
  assert.deepEqual(m.trainableParameters().map(([n]) => n), [...grads.keys()]);
  // Finite differences of the whole float64 reference (encoder included).
  const P = await params(m);
  const probes: [string, number][] = [
    ["roberta.embeddings.word_embeddings.weight", 5 * H + 2],
    ["roberta.embeddings.LayerNorm.weight", 3],
    ["roberta.encoder.layer.0.attention.self.query.weight", 17],
    ["roberta.encoder.layer.1.output.dense.bias", 5],
    ["fusion.task_dense_fac.weight", 7],
    ["fusion.task_dense_lin.bias", 4],
    ["fusion.task_dense.weight", 40],
  ];
  const h = 1e-5;
  for (const [name, e] of probes) {
    const at = (d: number) => {
      const Q = new Map(P), w = Q.get(name)!.slice();
      w[e] += d;
      Q.set(name, w);
      return dot(reference(Q, 2, "concat"), R);
    };
    const fd = (at(h) - at(-h)) / (2 * h);
    assertClose(
      [grads.get(name)![e]],
      [fd],
      { atol: 1e-4, rtol: 2e-3 },
      `d loss / d ${name}[${e}]`,
    );
  }
  // An AdamW step moves the encoder and fusion and leaves the adapters bit-identical.
  const opt = new AdamW(m.trainableParameters(), { lr: 1e-2, weightDecay: 0.01 });
  const encBefore = await read(m.roberta.encoder.layers[0].attention.self.query.weight);
  opt.update().dispose();
  for (const [n, t] of m.namedParameters()) {
    if (n.startsWith("adapters.")) {
      assert.deepEqual(new Float32Array(await t.data()), adaptersBefore.get(n), `${n} moved`);
    }
  }
  const encAfter = await read(m.roberta.encoder.layers[0].attention.self.query.weight);
  assert.ok(encAfter.some((v, i) => v !== encBefore[i]), "the encoder did not move");
  opt.zeroGrad();
  opt.dispose();
  m.dispose();
});

test("fusion: gradients through frozen adapters into their hidden states match FD", async (rng) => {
  // Fixed hidden states (leaves) instead of the encoder: the float64 reference of adapters +
  // fusion is then differentiated by finite differences in every state element.
  const m = build(rng, 3, "concat");
  const states = Array.from({ length: L + 1 }, () => rng.randn([B, S, H]));
  const R = rng.randn([B, S, H]);
  const [out, ...grads] = await run(() => {
    const xs = states.map((s) => {
      const t = up(s);
      t.requiresGrad = true;
      return t;
    });
    const y = m.fuse(xs, mask());
    backward(sumAll(mul(y, up(R))));
    return [
      y,
      ...xs.map((x, i) => {
        if (!x.grad) throw new Error(`no gradient reached hidden state ${i}`);
        return x.grad;
      }),
    ];
  });
  for (const [n, t] of m.namedParameters()) {
    if (n.startsWith("adapters.")) assert.equal(t.grad, null, `frozen ${n} got a gradient`);
    else if (n.startsWith("fusion.")) assert.ok(t.grad, `no gradient reached ${n}`);
  }
  const P = await params(m);
  const loss = (xs: Float64Array[]) => ref.fuse(xs, KEEP, P, ADAPTERS, "concat", B, S);
  assertClose(out, loss(states.map((s) => s.data)), { atol: 2e-4, rtol: 1e-4 }, "forward");
  const h = 1e-5;
  states.forEach((s, k) => {
    const fd = s.data.map((_, e) => {
      const at = (d: number) => {
        const xs = states.map((x) => x.data);
        xs[k] = xs[k].slice();
        xs[k][e] += d;
        return dot(loss(xs), R);
      };
      return (at(h) - at(-h)) / (2 * h);
    });
    // State 1 reaches the output through adapters only (lin and et).
    assert.ok(rms(fd) > 1e-2, `state ${k} barely matters (${rms(fd)})`);
    assertClose(grads[k], fd, { atol: 1e-4, rtol: 2e-3 }, `d loss / d hidden_states[${k}]`);
  });
  for (const t of m.parameters()) {
    t.grad?.dispose();
    t.grad = null;
  }
  m.dispose();
});

test("fusion: freezeEncoder leaves the encoder without gradients; trainAdapters trains them", async (rng) => {
  const R = rng.randn([B, S, H]);
  const cases: [KAdapterEncoderOptions, { roberta: boolean; adapters: boolean }][] = [
    [{ freezeEncoder: true }, { roberta: false, adapters: false }],
    [{ trainAdapters: true }, { roberta: true, adapters: true }],
    [{ freezeEncoder: true, trainAdapters: true }, { roberta: false, adapters: true }],
  ];
  for (const [opts, want] of cases) {
    const m = build(rng, 2, "concat", opts);
    await run(() => {
      backward(sumAll(mul(m.features(INPUT), up(R))));
      return [];
    });
    for (const [n, t] of m.namedParameters()) {
      const expect = n.startsWith("roberta.")
        ? want.roberta
        : n.startsWith("adapters.")
        ? want.adapters
        : true;
      assert.equal(t.grad !== null, expect, `${JSON.stringify(opts)}: gradient of ${n}`);
      assert.equal(t.requiresGrad, expect, `${JSON.stringify(opts)}: ${n} trainable`);
    }
    assert.deepEqual(
      m.trainableParameters().map(([n]) => n),
      m.namedParameters().filter(([, t]) => t.grad).map(([n]) => n),
    );
    // train() reaches trainable adapters only; frozen ones stay in eval mode.
    m.train();
    assert.ok(m.roberta.training && m.fusion.training);
    for (const a of m.adapters.values()) assert.equal(a.training, want.adapters);
    m.dispose();
  }
});

test("fusion: parameter names follow the released code; PyTorch default init", async () => {
  const shapes = (f: Fusion) => f.namedParameters().map(([n, t]) => [n, [...t.shape]]);
  const f2 = new Fusion(H, ["fac", "lin"], "concat", 3);
  assert.deepEqual(shapes(f2), [
    ["task_dense_fac.weight", [H, 2 * H]],
    ["task_dense_fac.bias", [H]],
    ["task_dense_lin.weight", [H, 2 * H]],
    ["task_dense_lin.bias", [H]],
    ["task_dense.weight", [H, 2 * H]],
    ["task_dense.bias", [H]],
  ]);
  const f3 = new Fusion(H, ["a", "b", "c"], "concat", 3);
  assert.deepEqual(shapes(f3).slice(-2), [["task_dense.weight", [H, 3 * H]], [
    "task_dense.bias",
    [H],
  ]]);
  const f1 = new Fusion(H, ["fac"], "concat", 3);
  assert.deepEqual(shapes(f1).map(([n]) => n), ["task_dense_fac.weight", "task_dense_fac.bias"]);
  const none = [new Fusion(H, [], "concat"), new Fusion(H, ["fac", "lin"], "add")];
  for (const f of none) assert.equal(f.namedParameters().length, 0);
  for (const [f, fanIn] of [[f2, 2 * H], [f3, 3 * H]] as const) {
    const bound = 1 / Math.sqrt(fanIn);
    for (const n of ["task_dense.weight", "task_dense.bias"]) {
      const v = Float64Array.from(await f.namedParameters().find(([m]) => m === n)![1].data());
      assert.ok(v.every((x) => Math.abs(x) <= bound), `${n} within +-${bound}`);
      assert.ok(rms(v) > bound / 3, `${n} is random, rms ${rms(v)}`);
    }
  }
  for (const f of [f1, f2, f3, ...none]) f.dispose();
});

test("fusion: argument checks", () => {
  assert.throws(() => new Fusion(H, ["fac", "fac"]), /distinct/);
  assert.throws(() => new Fusion(H, ["a.b"]), /letters/);
  const f = new Fusion(H, ["fac", "lin"]), x = Tensor.from(new Float32Array(B * S * H), [B, S, H]);
  assert.throws(() => f.forward(x, [x]), /2 adapters got 1/);
  x.dispose();
  f.dispose();
  const deep = new AdapterModel(
    adapterConfig(H, 4, { adapterHidden: 8, heads: 2, adapterList: [3] }),
    1,
  );
  const enc = new RobertaModel(ROBERTA, 1);
  assert.throws(() => new KAdapterEncoder(enc, [["deep", deep]]), /hidden state 3/);
  enc.dispose();
  deep.dispose();
});

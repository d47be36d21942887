// The K-Adapter adapter model and its fac/lin heads against float64 references (forward with
// padding, both mask and combine modes; gradients against finite differences), the frozen
// encoder's tape-free states, checkpoint names, near-identity init and the full-size count.
import assert from "node:assert/strict";
import { upload } from "../../src/gpu/queue.ts";
import { parseConfig } from "../../src/formats/hf_config.ts";
import {
  type AdapterConfig,
  adapterConfig,
  adapterParamCount,
  adapterShapes,
  defaultAdapterList,
} from "../../src/models/adapter_config.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { FacHead, facLoss, LinHead, linLoss } from "../../src/models/kadapter_heads.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { additiveMask } from "../../src/nn/attention.ts";
import type { Module } from "../../src/nn/module.ts";
import { backward, Tensor } from "../../src/tensor/mod.ts";
import type { Params } from "../nn_reference.ts";
import { crossEntropy } from "../reference.ts";
import { assertClose, read, rms, Rng as TestRng, run, test } from "../setup.ts";
import * as ref from "./kadapter_reference.ts";

const B = 2, S = 5, H = 16, LAYERS = 6;
// The second example has two padding positions.
const KEEP = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
const tiny = (over: Partial<AdapterConfig> = {}) =>
  adapterConfig(H, LAYERS, { adapterHidden: 12, heads: 2, intermediate: 24, ...over });
const HEAD = { hidden: H, labels: 7, dropout: 0.1, layerNormEps: 1e-5 };

/** O(1) random weights (LayerNorm gains near 1), so the layers are far from identity. */
function randomize(m: Module, rng: TestRng, scale = 0.3): void {
  for (const [name, t] of m.namedParameters()) {
    const gain = /LayerNorm\.weight$/.test(name) ? 1 : 0;
    upload(t.buffer, 0, Float32Array.from({ length: t.size }, () => gain + scale * rng.normal()));
  }
}

async function params(...ms: Module[]): Promise<Params> {
  const out: Params = new Map();
  for (const m of ms) {
    for (const [n, t] of m.namedParameters()) out.set(n, Float64Array.from(await t.data()));
  }
  return out;
}

const mask = () => Tensor.from(additiveMask(KEEP, B, S), [B, 1, 1, S]);
const randomStates = (rng: TestRng, n: number) =>
  Array.from({ length: n }, () => rng.randn([B, S, H]).data);

test("kadapter: adapter model matches the float64 reference in every mode", async (rng) => {
  const modes: Partial<AdapterConfig>[] = [
    {},
    { mask: "padding" },
    { combine: "concat" },
    { mask: "padding", combine: "concat" },
  ];
  for (const mode of modes) {
    const c = tiny(mode);
    const m = new AdapterModel(c, 3).eval();
    randomize(m, rng);
    const states = randomStates(rng, c.adapterList.length);
    const want = ref.adapterModel(states, KEEP, await params(m), c, B, S);
    const [got] = await run(() => [
      m.forward(states.map((s) => Tensor.from(s, [B, S, H])), mask()),
    ]);
    assertClose(got, want, { atol: 2e-4, rtol: 1e-4 }, `adapter ${JSON.stringify(mode)}`);
    m.dispose();
  }
});

test("kadapter: mask 'all' attends to padding, 'padding' does not", async (rng) => {
  // Both modes get the same weights and states, from two seeds drawn once.
  const seeds = [rng.int(0, 2 ** 30), rng.int(0, 2 ** 30)];
  const outputs: Float64Array[] = [];
  for (const mode of ["all", "padding"] as const) {
    const m = new AdapterModel(tiny({ mask: mode }), 3).eval();
    randomize(m, new TestRng(seeds[0]));
    const states = randomStates(new TestRng(seeds[1]), 3);
    outputs.push(
      (await run(() => [m.forward(states.map((s) => Tensor.from(s, [B, S, H])), mask())]))[0],
    );
    m.dispose();
  }
  // The first example has no padding: both agree; the second differs.
  const row = S * H;
  assertClose(outputs[0].subarray(0, row), outputs[1].subarray(0, row), { atol: 1e-5 });
  const diff = outputs[0].subarray(row).reduce(
    (a, v, i) => Math.max(a, Math.abs(v - outputs[1][row + i])),
    0,
  );
  assert.ok(diff > 1e-3, `padding mask changed nothing (${diff})`);
});

test("kadapter: fac and lin heads match the float64 reference", async (rng) => {
  const fac = new FacHead(HEAD, 1).eval(), lin = new LinHead({ ...HEAD, labels: 6 }, 2).eval();
  randomize(fac, rng);
  randomize(lin, rng);
  const [last, adapter] = randomStates(rng, 2);
  const subj = [1, 0], obj = [3, 2];
  const up = (x: Float64Array) => Tensor.from(x, [B, S, H]);
  const [f, l] = await run(() => [
    fac.forward(up(last), up(adapter), subj, obj),
    lin.forward(up(last), up(adapter), mask()),
  ]);
  assertClose(f, ref.facHead(last, adapter, subj, obj, await params(fac), H, S), {
    atol: 1e-4,
    rtol: 1e-4,
  }, "fac logits");
  assertClose(l, ref.linHead(last, adapter, KEEP, await params(lin), H, B, S, 1e-5), {
    atol: 1e-4,
    rtol: 1e-4,
  }, "lin logits");
  fac.dispose();
  lin.dispose();
});

test("kadapter: frozen encoder untouched; adapter and head gradients match FD", async (rng) => {
  const enc = new RobertaModel(
    parseConfig({
      vocab_size: 30,
      hidden_size: H,
      num_hidden_layers: LAYERS,
      num_attention_heads: 4,
      intermediate_size: 32,
      max_position_embeddings: 12,
      type_vocab_size: 1,
      layer_norm_eps: 1e-5,
      pad_token_id: 1,
      hidden_act: "gelu",
    }, "test"),
    4,
  ).eval();
  const frozen = FrozenRoberta.fromModel(enc);
  const c = tiny();
  const m = new AdapterModel(c, 5).eval(), head = new FacHead(HEAD, 6).eval();
  randomize(m, rng);
  const input = {
    inputIds: [0, 5, 9, 7, 2, 0, 8, 2, 1, 1],
    attentionMask: KEEP,
    batch: B,
    seqLen: S,
  };
  const subj = [1, 0], obj = [3, 2], labels = [4, 1];
  const keepStates = [...c.adapterList, LAYERS];
  const states = await run(() => {
    const hs = frozen.hiddenStates(input, { keep: keepStates });
    for (const h of hs) assert.ok(h.node === null && !h.requiresGrad, "encoder state on tape");
    const logits = head.forward(hs.at(-1)!, m.forward(hs.slice(0, -1)), subj, obj);
    backward(facLoss(logits, labels));
    return hs;
  });
  const grads = new Map<string, Float64Array>();
  for (const [n, t] of [...m.namedParameters(), ...head.namedParameters()]) {
    assert.ok(t.grad, `no gradient reached ${n}`);
    grads.set(n, await read(t.grad));
  }
  for (const [n, t] of enc.namedParameters()) {
    assert.equal(t.grad, null, `encoder ${n} got a gradient`);
  }
  const P = await params(m, head);
  const loss = (Q: Params) => {
    const out = ref.adapterModel(states.slice(0, -1), KEEP, Q, c, B, S);
    const logits = ref.facHead(states.at(-1)!, out, subj, obj, Q, H, S);
    return crossEntropy({ shape: [B, HEAD.labels], data: logits }, labels);
  };
  const probes: [string, number][] = [
    ["adapter.0.down_project.weight", 3],
    ["adapter.1.encoder.layer.0.attention.self.query.weight", 17],
    ["adapter.2.encoder.layer.1.output.LayerNorm.weight", 2],
    ["adapter.2.up_project.bias", 5],
    ["com_dense.weight", 40],
  ];
  const h = 1e-5;
  for (const [name, e] of probes) {
    const at = (d: number) => {
      const Q = new Map(P), w = Q.get(name)!.slice();
      w[e] += d;
      Q.set(name, w);
      return loss(Q);
    };
    const fd = (at(h) - at(-h)) / (2 * h);
    assertClose(
      [grads.get(name)![e]],
      [fd],
      { atol: 1e-4, rtol: 2e-3 },
      `d loss / d ${name}[${e}]`,
    );
  }
  for (const x of [m, head, enc]) x.dispose();
  frozen.dispose();
});

test("kadapter: at init each adapter layer is near identity", async (rng) => {
  const c = tiny(), m = new AdapterModel(c, 11).eval();
  const states = randomStates(rng, 3);
  const [got] = await run(() => [m.forward(states.map((s) => Tensor.from(s, [B, S, H])))]);
  // Sum mode: out ~ h0 + h1 + h2, off by up_project's N(0, 0.0002) weights times the inner
  // layers' O(1) LayerNorm outputs: rms ~ sqrt(3 * A) * 0.0002 ~ 1e-3 here.
  const sum = states[0].map((v, i) => v + states[1][i] + states[2][i]);
  const off = rms(got.map((v, i) => v - sum[i]));
  assert.ok(off > 0 && off < 3e-3 && off < 1e-2 * rms(sum), `distance from identity ${off}`);
  const P = await params(m);
  for (const [n, v] of P) if (/_project\.bias$/.test(n)) assert.ok(v.every((x) => x === 0), n);
  m.dispose();
});

test("kadapter: concat mode's fuse layers get PyTorch's default init", async () => {
  const m = new AdapterModel(tiny({ combine: "concat" }), 12);
  const P = await params(m);
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and the bias, fan_in = 2H.
  const bound = 1 / Math.sqrt(2 * H);
  for (const name of ["fuse.1.weight", "fuse.1.bias"]) {
    const v = P.get(name)!;
    assert.ok(v.every((x) => Math.abs(x) <= bound), `${name} within +-${bound}`);
    assert.ok(rms(v) > bound / 3, `${name} is random, rms ${rms(v)}`);
  }
  m.dispose();
});

test("kadapter: parameter names follow the released checkpoints", () => {
  for (const c of [tiny(), tiny({ combine: "concat" })]) {
    const m = new AdapterModel(c, 1);
    const got = m.namedParameters().map(([n, t]) => [n, [...t.shape]]);
    assert.deepEqual(got, adapterShapes(c));
    m.dispose();
  }
  const names = adapterShapes(tiny()).map(([n]) => n);
  for (const n of names) {
    assert.match(
      n,
      /^adapter\.[0-2]\.(down_project|up_project|encoder\.layer\.[01]\.(attention\.self\.(query|key|value)|attention\.output\.(dense|LayerNorm)|intermediate\.dense|output\.(dense|LayerNorm)))\.(weight|bias)$/,
    );
  }
  const fac = new FacHead(HEAD, 1), lin = new LinHead(HEAD, 1);
  assert.deepEqual(fac.namedParameters().map(([n]) => n), [
    "com_dense.weight",
    "com_dense.bias",
    "dense.weight",
    "dense.bias",
    "out_proj.weight",
    "out_proj.bias",
  ]);
  assert.ok(lin.namedParameters().some(([n]) => n === "self_attention.self.query.weight"));
  assert.ok(lin.namedParameters().some(([n]) => n === "self_attention.output.LayerNorm.bias"));
  fac.dispose();
  lin.dispose();
});

test("kadapter: roberta-large adapter has ~47M parameters (42.5M inner)", () => {
  const c = adapterConfig(1024, 24);
  assert.deepEqual(c.adapterList, [0, 11, 22]);
  assert.deepEqual(defaultAdapterList(12), [0, 5, 10]);
  const total = adapterParamCount(c);
  const inner = adapterShapes(c).filter(([n]) => n.includes(".encoder."))
    .reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(total, 47_251_200);
  assert.equal(inner, 42_527_232);
});

test("kadapter: fac and lin losses are finite and lin ignores -100", async (rng) => {
  const fac = new FacHead(HEAD, 1), lin = new LinHead({ ...HEAD, labels: S }, 2);
  const [last, adapter] = randomStates(rng, 2);
  const up = (x: Float64Array) => Tensor.from(x, [B, S, H]);
  const linLabels = [-100, 0, 1, 1, 0, -100, 0, 1, -100, -100];
  const [f, l, logits] = await run(() => {
    const ll = lin.forward(up(last), up(adapter), mask());
    return [
      facLoss(fac.forward(up(last), up(adapter), [1, 0], [2, 3]), [0, 6]),
      linLoss(ll, linLabels),
      ll,
    ];
  });
  assert.ok(Number.isFinite(f[0]) && f[0] > 0);
  assertClose(l, [crossEntropy({ shape: [B * S, S], data: logits }, linLabels)], { atol: 1e-5 });
  fac.dispose();
  lin.dispose();
});

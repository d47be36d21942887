// Activation recomputation (checkpoint in src/tensor/autograd.ts, TransformerLayer.recompute):
// gradients against a closed form, a whole RobertaModel in train mode (dropout on) against the
// path that keeps its activations (outputs, every parameter's gradient and the dropout stream
// must agree), and the step's peak GPU memory, which must drop.
import assert from "node:assert/strict";
import { pool } from "../../src/gpu/pool.ts";
import { parseConfig } from "../../src/formats/hf_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import type { EncoderInput } from "../../src/models/roberta_inputs.ts";
import {
  add,
  backward,
  checkpoint,
  dropout,
  DropoutRng,
  keep,
  mul,
  sumAll,
  type Tensor,
  tidy,
} from "../../src/tensor/mod.ts";
import { assertClose, read, test, up } from "../setup.ts";
import { paddedBatch } from "./batches.ts";

const PAD = 1;

function tinyConfig(over: Record<string, number> = {}) {
  return parseConfig({
    vocab_size: 40,
    hidden_size: 16,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    intermediate_size: 32,
    max_position_embeddings: 20,
    type_vocab_size: 1,
    layer_norm_eps: 1e-5,
    pad_token_id: PAD,
    hidden_dropout_prob: 0.2,
    attention_probs_dropout_prob: 0.2,
    hidden_act: "gelu",
    ...over,
  }, "test");
}

test("checkpoint: gradients of inputs and parameters match the closed form", async (rng) => {
  const n = 24;
  const xs = rng.randn([n]), ws = rng.randn([n]), other = rng.randn([n]);
  const x = up(xs), w = up(ws), z = up(other);
  x.requiresGrad = w.requiresGrad = true;
  // y = x * w * x + z, loss = sum(y) + sum(x): x reaches the loss inside the block and past it.
  const block = (a: Tensor, b: Tensor) => add(mul(mul(a, w), a), b);
  tidy(() => backward(add(sumAll(checkpoint(block, [x, z], { params: [w] })), sumAll(x))));
  const gx = Array.from(xs.data, (v, i) => 2 * ws.data[i] * v + 1);
  const gw = Array.from(xs.data, (v) => v * v);
  assertClose(await read(x.grad!), gx, { atol: 1e-5, rtol: 1e-5 }, "dx");
  assertClose(await read(w.grad!), gw, { atol: 1e-5, rtol: 1e-5 }, "dw");
  assert.equal(z.grad, null, "an input without requiresGrad gets no gradient");
  // Only a parameter needs a gradient: the node is still recorded.
  w.grad!.dispose();
  w.grad = null;
  x.requiresGrad = false;
  tidy(() => backward(sumAll(checkpoint(block, [x, z], { params: [w] }))));
  assertClose(await read(w.grad!), gw, { atol: 1e-5, rtol: 1e-5 }, "dw, frozen input");
  for (const t of [x, w, z]) {
    t.grad?.dispose();
    t.dispose();
  }
});

test("checkpoint: the recomputation replays the dropout masks, then the stream resumes", async (rng) => {
  const n = 4096, p = 0.5;
  const x = up(rng.randn([n]));
  x.requiresGrad = true;
  const drop = new DropoutRng(rng.int(1, 2 ** 31), 7);
  // y = m1 m2 x^2 / (1-p)^2 with the masks of counters 7 and 8; its gradient is 2y/x only if the
  // recomputation draws the same masks (other counters would give other masks than y's).
  const y = tidy(() => {
    const out = checkpoint((a) => mul(dropout(a, p, drop), dropout(a, p, drop)), [x], {
      rngs: [drop],
    });
    assert.equal(drop.counter, 9);
    // Another consumer of the stream between forward and backward.
    tidy(() => dropout(x, p, drop));
    backward(sumAll(out));
    return keep(out);
  });
  assert.equal(drop.counter, 10, "the counter continues where it was before the backward");
  const yv = await read(y), xv = await read(x), g = await read(x.grad!);
  assertClose(g, Array.from(yv, (v, i) => (2 * v) / xv[i]), { atol: 1e-4, rtol: 1e-4 }, "dx");
  const kept = yv.filter((v) => v !== 0).length;
  assert.ok(kept > n * 0.15 && kept < n * 0.35, `${kept} of ${n} kept by both masks`);
  y.dispose();
  x.grad!.dispose();
  x.dispose();
});

/** Forward and backward of a train-mode step; returns every hidden state and gradient. */
async function step(m: RobertaModel, input: EncoderInput, weights: Tensor[], counter: number) {
  m.dropoutRng.counter = counter;
  const states = tidy(() => {
    const hs = m.forward(input);
    // Every hidden state reaches the loss (as adapters read them), not only through the next layer.
    backward(hs.reduce((s, h, i) => add(s, sumAll(mul(h, weights[i]))), sumAll(hs[0])));
    return hs.map((h) => keep(h));
  });
  const out = { states: [] as Float64Array[], grads: new Map<string, Float64Array>() };
  for (const s of states) {
    out.states.push(await read(s));
    s.dispose();
  }
  for (const [name, t] of m.namedParameters()) {
    out.grads.set(name, await read(t.grad!));
    t.grad!.dispose();
    t.grad = null;
  }
  return { ...out, counter: m.dropoutRng.counter };
}

test("RobertaModel with recompute: outputs and every gradient equal the kept-activation path", async (rng) => {
  const c = tinyConfig();
  const m = new RobertaModel(c, rng.int(1, 1000)).train(true);
  const input = paddedBatch(rng, [9, 6, 4], c.vocab_size);
  const weights = Array.from({ length: c.num_hidden_layers + 1 }, () => up(rng.randn([3, 9, 16])));
  try {
    const counter = rng.int(0, 1000);
    const plain = await step(m, input, weights, counter);
    m.encoder.setRecompute(true);
    const recomputed = await step(m, input, weights, counter);
    assert.equal(recomputed.counter, plain.counter, "same number of dropout draws");
    plain.states.forEach((s, i) => assert.deepEqual(recomputed.states[i], s, `hidden state ${i}`));
    assert.equal(recomputed.grads.size, plain.grads.size);
    // A state read past its layer sums its gradient's parts in another order (the layer's own
    // first): rounding at 1e-7 of the gradient's scale (the key bias's is 0 but for rounding).
    for (const [name, g] of plain.grads) {
      const scale = g.reduce((a, v) => Math.max(a, Math.abs(v)), 1);
      assertClose(recomputed.grads.get(name)!, g, { atol: 1e-6 * scale, rtol: 0 }, name);
    }
  } finally {
    weights.forEach((w) => w.dispose());
    m.dispose();
  }
});

test("RobertaModel with recompute: the step's peak GPU memory is lower", (rng) => {
  const c = tinyConfig({
    hidden_size: 64,
    intermediate_size: 256,
    num_hidden_layers: 4,
    max_position_embeddings: 80,
  });
  const m = new RobertaModel(c, 1).train(true);
  const input = paddedBatch(rng, [64, 64, 50, 64], c.vocab_size);
  const peak = (recompute: boolean) => {
    m.encoder.setRecompute(recompute);
    pool.resetPeaks();
    const before = pool.stats.bytesInUse;
    tidy(() => backward(sumAll(m.forward(input).at(-1)!)));
    const bytes = pool.stats.peakBytesInUse - before;
    for (const t of m.parameters()) {
      t.grad?.dispose();
      t.grad = null;
    }
    return bytes;
  };
  try {
    const plain = peak(false), recomputed = peak(true);
    assert.ok(
      recomputed < 0.75 * plain,
      `peak ${(recomputed / 2 ** 20).toFixed(2)} MiB with recompute, ${
        (plain / 2 ** 20).toFixed(2)
      } MiB without`,
    );
  } finally {
    m.dispose();
  }
});

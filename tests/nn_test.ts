// src/nn: the attention block and the post-LN transformer layer against float64 loop
// references (forward, and gradients against finite differences), Hugging Face parameter
// names, and a small model that learns a toy task end to end without leaking GPU memory.
import assert from "node:assert/strict";
import { initGpu } from "../src/gpu/device.ts";
import { pool } from "../src/gpu/pool.ts";
import { upload } from "../src/gpu/queue.ts";
import { additiveMask, Attention } from "../src/nn/attention.ts";
import { SequenceClassifier } from "./nn_classifier.ts";
import type { TransformerConfig } from "../src/nn/config.ts";
import { Rng } from "../src/nn/init.ts";
import type { Module } from "../src/nn/module.ts";
import { AdamW } from "../src/nn/optim.ts";
import { linearWarmupDecay } from "../src/nn/schedule.ts";
import { TransformerLayer } from "../src/nn/transformer.ts";
import {
  backward,
  crossEntropy,
  DropoutRng,
  liveTensors,
  mul,
  sumAll,
  Tensor,
  tidy,
} from "../src/tensor/mod.ts";
import * as ref from "./nn_reference.ts";

await initGpu();
const opts = { sanitizeOps: false, sanitizeResources: false };

const CFG: TransformerConfig = {
  hidden: 8,
  heads: 2,
  intermediate: 16,
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
  layerNormEps: 1e-5,
  initRange: 0.02,
};
const SHAPE: ref.RefConfig = { batch: 2, seq: 5, hidden: 8, heads: 2, eps: 1e-5 };
// The second sequence has two padding positions.
const KEEP = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];

/** Replaces every parameter with O(1) random values, so attention is far from uniform. */
function randomize(m: Module, rng: Rng): void {
  for (const [name, t] of m.namedParameters()) {
    const gain = name.endsWith("LayerNorm.weight") ? 1 : 0;
    upload(t.buffer, 0, Float32Array.from({ length: t.size }, () => gain + 0.5 * rng.normal()));
  }
}

async function params(m: Module, prefix = ""): Promise<ref.Params> {
  const out: ref.Params = new Map();
  for (const [name, t] of m.namedParameters(prefix)) {
    out.set(name, Float64Array.from(await t.data()));
  }
  return out;
}

function randomInput(rng: Rng): Float32Array {
  const n = SHAPE.batch * SHAPE.seq * SHAPE.hidden;
  return Float32Array.from({ length: n }, () => rng.normal());
}

function maskTensor(): Tensor {
  return Tensor.from(additiveMask(KEEP, SHAPE.batch, SHAPE.seq), [SHAPE.batch, 1, 1, SHAPE.seq]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

type Block = Attention | TransformerLayer;
type Reference = (x: Float64Array, keep: number[], P: ref.Params) => Float64Array;

/** Eval-mode forward on the GPU and in float64; returns the largest difference. */
async function forwardError(block: Block, reference: Reference, x: Float32Array) {
  block.eval();
  const out = tidy(() =>
    block.forward(Tensor.from(x, [SHAPE.batch, SHAPE.seq, SHAPE.hidden]), maskTensor())
  );
  const got = await out.data();
  out.dispose();
  const want = reference(Float64Array.from(x), KEEP, await params(block));
  return maxAbsDiff(got, want);
}

/**
 * Gradients of sum(out * R) with respect to the input and a few entries of every parameter,
 * on the GPU (autograd) against central differences of the float64 reference.
 */
async function gradientErrors(block: Block, reference: Reference, x: Float32Array, rng: Rng) {
  block.eval();
  const r = Float64Array.from(x, () => rng.normal());
  const xt = Tensor.from(x, [SHAPE.batch, SHAPE.seq, SHAPE.hidden]);
  xt.requiresGrad = true;
  tidy(() => {
    const out = block.forward(xt, maskTensor());
    backward(sumAll(mul(out, Tensor.from(Float32Array.from(r), out.shape))));
  });
  const P = await params(block);
  const x64 = Float64Array.from(x);
  const f = () => reference(x64, KEEP, P).reduce((s, v, i) => s + v * r[i], 0);
  const h = 1e-5;
  const central = (arr: Float64Array, i: number) => {
    const v = arr[i];
    arr[i] = v + h;
    const up = f();
    arr[i] = v - h;
    const down = f();
    arr[i] = v;
    return (up - down) / (2 * h);
  };
  const errors: [string, number][] = [];
  const check = (name: string, arr: Float64Array, grad: Float32Array | Int32Array) => {
    for (let k = 0; k < 4; k++) {
      const i = rng.int(arr.length);
      const want = central(arr, i);
      errors.push([`${name}[${i}]`, Math.abs(grad[i] - want) / (1 + Math.abs(want))]);
    }
  };
  check("input", x64, await xt.grad!.data());
  for (const [name, t] of block.namedParameters()) check(name, P.get(name)!, await t.grad!.data());
  xt.grad!.dispose();
  xt.dispose();
  for (const t of block.parameters()) {
    t.grad!.dispose();
    t.grad = null;
  }
  return errors;
}

const refAttention: Reference = (x, keep, P) => ref.attention(x, keep, P, SHAPE, "");
const refLayer: Reference = (x, keep, P) => ref.transformerLayer(x, keep, P, SHAPE);

Deno.test("attention forward matches the float64 reference, with padding", opts, async () => {
  const rng = new Rng(1);
  const block = new Attention(CFG, rng, new DropoutRng(7));
  randomize(block, rng);
  const err = await forwardError(block, refAttention, randomInput(rng));
  assert(err < 1e-4, `max |gpu - reference| = ${err}`);
  block.dispose();
});

Deno.test("padded keys do not change the outputs of real tokens", opts, async () => {
  const rng = new Rng(2);
  const block = new Attention(CFG, rng, new DropoutRng(7)).eval();
  randomize(block, rng);
  const x = randomInput(rng);
  const run = async (input: Float32Array) => {
    const out = tidy(() =>
      block.forward(Tensor.from(input, [SHAPE.batch, SHAPE.seq, SHAPE.hidden]), maskTensor())
    );
    const d = await out.data();
    out.dispose();
    return d;
  };
  const before = await run(x);
  const y = x.slice();
  // Overwrite the two padded positions of the second sequence (flat rows 8 and 9).
  y.fill(9, 8 * SHAPE.hidden);
  const after = await run(y);
  const real = 8 * SHAPE.hidden;
  assert(maxAbsDiff(before.subarray(0, real), after.subarray(0, real)) < 1e-6);
  block.dispose();
});

Deno.test("transformer layer forward matches the float64 reference", opts, async () => {
  const rng = new Rng(3);
  const layer = new TransformerLayer(CFG, rng, new DropoutRng(7));
  randomize(layer, rng);
  const err = await forwardError(layer, refLayer, randomInput(rng));
  assert(err < 1e-4, `max |gpu - reference| = ${err}`);
  layer.dispose();
});

Deno.test("transformer layer gradients match finite differences", opts, async () => {
  const rng = new Rng(4);
  const layer = new TransformerLayer(CFG, rng, new DropoutRng(7));
  randomize(layer, rng);
  const errors = await gradientErrors(layer, refLayer, randomInput(rng), rng);
  const bad = errors.filter(([, e]) => !(e < 1e-4));
  assert.deepEqual(bad, [], `gradient errors above 1e-4: ${JSON.stringify(bad)}`);
  layer.dispose();
});

Deno.test("train mode applies dropout, eval mode does not", opts, async () => {
  const rng = new Rng(5);
  const layer = new TransformerLayer({ ...CFG, hiddenDropout: 0.5 }, rng, new DropoutRng(7));
  const x = randomInput(rng);
  const run = async () => {
    const out = tidy(() =>
      layer.forward(Tensor.from(x, [SHAPE.batch, SHAPE.seq, SHAPE.hidden]), maskTensor())
    );
    const d = await out.data();
    out.dispose();
    return d;
  };
  const a = await run(), b = await run();
  layer.eval();
  const c = await run(), d = await run();
  assert(maxAbsDiff(a, b) > 1e-3, "two train-mode passes should draw different masks");
  assert.deepEqual(maxAbsDiff(c, d), 0);
  layer.dispose();
});

Deno.test("parameter names are the Hugging Face state-dict keys", () => {
  const layer = new TransformerLayer(CFG, new Rng(0), new DropoutRng(0));
  const names = layer.namedParameters("encoder.layer.0.").map(([n]) => n);
  const linear = (p: string) => [`${p}.weight`, `${p}.bias`];
  assert.deepEqual(names, [
    ...linear("encoder.layer.0.attention.self.query"),
    ...linear("encoder.layer.0.attention.self.key"),
    ...linear("encoder.layer.0.attention.self.value"),
    ...linear("encoder.layer.0.attention.output.dense"),
    ...linear("encoder.layer.0.attention.output.LayerNorm"),
    ...linear("encoder.layer.0.intermediate.dense"),
    ...linear("encoder.layer.0.output.dense"),
    ...linear("encoder.layer.0.output.LayerNorm"),
  ]);
  const weightShapes = Object.fromEntries(layer.namedParameters().map(([n, t]) => [n, t.shape]));
  assert.deepEqual(weightShapes["intermediate.dense.weight"], [16, 8]);
  assert.deepEqual(weightShapes["output.dense.weight"], [8, 16]);
  layer.dispose();
});

Deno.test("same seed, same initial weights", opts, async () => {
  const cfg = { ...CFG, vocab: 10, maxPositions: 6, layers: 1, labels: 2 };
  const a = new SequenceClassifier(cfg, 11), b = new SequenceClassifier(cfg, 11);
  const pa = await params(a), pb = await params(b);
  for (const [name, v] of pa) assert.deepEqual(maxAbsDiff(v, pb.get(name)!), 0, name);
  assert(pa.has("encoder.layer.0.attention.self.query.weight"));
  assert(pa.has("embeddings.word_embeddings.weight"));
  assert(pa.has("classifier.out_proj.bias"));
  a.dispose();
  b.dispose();
});

// Toy task: does the marker token occur among the real tokens? Padded positions hold
// random ids, the marker included, so the loss only falls if the padding mask works.
Deno.test("a small transformer learns a toy task; memory does not grow", opts, async () => {
  const VOCAB = 12, MARKER = 3, SEQ = 8, BATCH = 32, STEPS = 300;
  const model = new SequenceClassifier({
    ...CFG,
    hidden: 32,
    heads: 2,
    intermediate: 64,
    hiddenDropout: 0,
    attentionDropout: 0,
    vocab: VOCAB,
    maxPositions: SEQ,
    layers: 1,
    labels: 2,
  }, 1);
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01, maxGradNorm: 1 });
  const rng = new Rng(99);
  const losses: number[] = [];
  let warm = { bytes: 0, tensors: 0 };
  for (let step = 0; step < STEPS; step++) {
    const ids = new Int32Array(BATCH * SEQ), keep = new Uint8Array(BATCH * SEQ);
    const labels = new Int32Array(BATCH);
    for (let b = 0; b < BATCH; b++) {
      const len = 3 + rng.int(SEQ - 2);
      labels[b] = rng.int(2);
      for (let s = 0; s < SEQ; s++) {
        keep[b * SEQ + s] = s < len ? 1 : 0;
        ids[b * SEQ + s] = s === 0 ? 1 : s < len ? 4 + rng.int(VOCAB - 4) : 3 + rng.int(VOCAB - 3);
      }
      if (labels[b]) ids[b * SEQ + 1 + rng.int(len - 1)] = MARKER;
    }
    const { loss, norm } = tidy(() => {
      const logits = model.forward(
        Tensor.from(ids, [BATCH, SEQ], "i32"),
        Tensor.from(additiveMask(keep, BATCH, SEQ), [BATCH, 1, 1, SEQ]),
      );
      const loss = crossEntropy(logits, Tensor.from(labels, [BATCH], "i32"));
      backward(loss);
      const norm = opt.update(linearWarmupDecay(step, 3e-3, 30, STEPS));
      opt.zeroGrad();
      return { loss, norm };
    });
    losses.push((await loss.data())[0]);
    loss.dispose();
    norm.dispose();
    if (step === 20) warm = { bytes: pool.stats.bytesAllocated, tensors: liveTensors() };
  }
  const tail = losses.slice(-30).reduce((a, b) => a + b, 0) / 30;
  assert(tail < 0.1, `mean loss of the last 30 steps ${tail} (started at ${losses[0]})`);
  assert.deepEqual(pool.stats.bytesAllocated, warm.bytes, "the buffer pool grew after warm-up");
  assert.deepEqual(liveTensors(), warm.tensors, "tensors leaked across steps");
  opt.dispose();
  model.dispose();
});

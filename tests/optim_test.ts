// AdamW (torch.optim.AdamW semantics) with clipping (torch clip_grad_norm_) over several
// steps against the float64 reference; the gradient norm; the learning-rate schedule.
import assert from "node:assert/strict";
import { AdamW, type AdamWOptions, globalGradNorm } from "../src/nn/optim.ts";
import { linearWarmupDecay } from "../src/nn/schedule.ts";
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { assertClose, read, type Rng, run, test, up } from "./setup.ts";

const SHAPES = [[7, 5], [300], [2, 3]];

/** Runs `steps` updates on GPU and reference; param 2 never gets a gradient. */
async function compare(rng: Rng, opts: AdamWOptions, steps: number, gradScale: number) {
  const init = SHAPES.map((s) => rng.randn(s));
  const params = init.map((x) => op.keep(up(x)));
  const opt = new AdamW(params, opts);
  const cfg: ref.AdamWConfig = {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    maxGradNorm: 0,
    ...opts,
  } as ref.AdamWConfig;
  const state: ref.AdamWState = {
    params: init.slice(0, 2).map((x) => Float64Array.from(x.data)),
    m: init.slice(0, 2).map((x) => new Float64Array(x.data.length)),
    v: init.slice(0, 2).map((x) => new Float64Array(x.data.length)),
    step: 0,
  };
  try {
    for (let s = 0; s < steps; s++) {
      const lr = cfg.lr * (1 - s / (2 * steps)); // a changing lr, as a schedule gives
      const grads = SHAPES.slice(0, 2).map((sh) => rng.randn(sh, gradScale));
      // Gradient 0 lives at an offset inside a larger buffer, as views from backward do.
      const big = op.keep(up(ref.concat([rng.randn([1, 35]), ref.reshape(grads[0], [1, 35])], 1)));
      params[0].grad = op.tidy(() => op.reshape(op.slice(big, 1, 35, 70), [7, 5]));
      big.dispose();
      params[1].grad = op.keep(up(grads[1]));
      const norm = opt.update(lr);
      const [gpuNorm] = await run(() => [norm]);
      const refNorm = ref.adamwStep(state, grads.map((g) => g.data), { ...cfg, lr });
      assertClose(gpuNorm, [refNorm], { atol: 0, rtol: 1e-5 }, `norm at step ${s}`);
      opt.zeroGrad();
      assert.equal(params[0].grad, null);
    }
    for (let k = 0; k < 2; k++) {
      // f32 state over a few steps: updates are ~lr, parameters O(1).
      assertClose(await read(params[k]), state.params[k], { atol: 2e-6, rtol: 1e-5 }, `param ${k}`);
      assertClose(await read(opt.m[k]), state.m[k], { atol: 1e-7, rtol: 1e-5 }, `m ${k}`);
      assertClose(await read(opt.v[k]), state.v[k], { atol: 1e-9, rtol: 1e-5 }, `v ${k}`);
    }
    assertClose(await read(params[2]), init[2], { atol: 0 }, "param without gradient");
  } finally {
    opt.dispose();
    for (const p of params) p.dispose();
  }
}

test("optim: AdamW with weight decay and active clipping, 6 steps", async (rng) => {
  // Gradient norms ~ 3 * sqrt(335) ~ 55 against maxGradNorm 1: every step is clipped.
  await compare(rng, { lr: 1e-2, weightDecay: 0.01, maxGradNorm: 1 }, 6, 3);
});

test("optim: AdamW without clipping, custom betas, clip bound not reached", async (rng) => {
  await compare(rng, { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6 }, 4, 1);
  await compare(rng, { lr: 1e-3, weightDecay: 0.1, maxGradNorm: 1e6 }, 3, 0.01);
});

test("optim: globalGradNorm over several tensors", async (rng) => {
  const gs = [rng.randn([3, 4]), rng.randn([1000]), rng.randn([1])];
  const [n] = await run(() => [globalGradNorm(gs.map(up))]);
  assertClose(n, [ref.gradNorm(gs.map((g) => g.data))], { atol: 0, rtol: 1e-6 }, "norm");
});

test("optim: named parameters: biases and LayerNorm weights get no weight decay", async () => {
  const names = [
    "dense.weight",
    "dense.bias",
    "output.LayerNorm.weight",
    "lm_head.layer_norm.weight",
  ];
  const params = names.map(() => op.keep(op.ones([4])));
  const opt = new AdamW(names.map((n, i) => [n, params[i]] as const), {
    lr: 0.1,
    weightDecay: 0.5,
  });
  // Zero gradients: the Adam term is 0 / (0 + eps) = 0, so only the decay moves a weight.
  for (const p of params) p.grad = op.keep(op.zeros([4]));
  opt.update().dispose();
  const got = await Promise.all(params.map(async (p) => (await p.data())[0]));
  assert.deepEqual(got, [Math.fround(1 - 0.1 * 0.5), 1, 1, 1]);
  opt.zeroGrad();
  opt.dispose();
  for (const p of params) p.dispose();
});

test("optim: AdamW rejects non-dense parameters", () => {
  op.tidy(() => {
    const t: Tensor = op.transpose(op.zeros([2, 3]));
    assert.throws(() => new AdamW([t], { lr: 1 }), /dense f32/);
  });
});

test("optim: linear warmup then linear decay", () => {
  const cases: [number, number, number][] = [[100, 1000, 0], [0, 10, 0], [1, 1, 1]];
  for (const [warmup, total] of cases) {
    for (
      const step of [
        0,
        1,
        warmup - 1,
        warmup,
        warmup + 1,
        (warmup + total) >> 1,
        total - 1,
        total,
        total + 5,
      ]
    ) {
      if (step < 0) continue;
      const got = linearWarmupDecay(step, 5e-4, warmup, total);
      const want = ref.linearWarmupDecay(step, 5e-4, warmup, total);
      assert.ok(
        Math.abs(got - want) <= 1e-15,
        `step ${step} of ${warmup}/${total}: ${got} vs ${want}`,
      );
    }
  }
  // Spot values from the definition: half-way through warmup, half-way through decay.
  assert.equal(linearWarmupDecay(50, 1, 100, 1100), 0.5);
  assert.equal(linearWarmupDecay(600, 1, 100, 1100), 0.5);
  assert.equal(linearWarmupDecay(1100, 1, 100, 1100), 0);
});

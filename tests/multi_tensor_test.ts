// Multi-tensor kernels: AdamW over many parameters per dispatch gives bit for bit the
// per-parameter kernel's results; sums of squares and non-finite counts over many tensors
// match the float64 reference; with groups forced small (many dispatches), as large as the
// adapter allows, and the adapter's default, at odd sizes, gradients at offsets and a
// realistic parameter set.
import assert from "node:assert/strict";
import { gpu } from "../src/gpu/device.ts";
import { startProfile, stopProfile } from "../src/gpu/profile.ts";
import { AdamW, globalGradNorm } from "../src/nn/optim.ts";
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { assertClose, read, type Rng, run, test, up } from "./setup.ts";

const ODD = [1, 3, 255, 256, 257, 1000, 7, 513, 4097, 2, 70000, 31, 5, 64, 129, 3000, 1, 9];
const REALISTIC = [64 * 1024, 1024, 64, 64, 4096 * 64, 128 * 64, 128, 410 * 64, 410];

/** A dense tensor holding `x`, or a view of it at an offset inside a larger buffer. */
function upAt(rng: Rng, x: ref.Nd, offset: boolean): Tensor {
  if (!offset) return up(x);
  const n = x.data.length;
  return op.tidy(() => op.slice(up(ref.concat([rng.randn([3]), x], 0)), 0, 3, 3 + n));
}

async function adamwOnce(
  rng: Rng,
  sizes: number[],
  groups: number | null,
  init: ref.Nd[][],
): Promise<Float64Array[]> {
  op.setMultiTensor(groups);
  startProfile("submit");
  try {
    return await run(() => {
      const [ps, gs, ms, vs] = init.map((xs, k) =>
        xs.map((x, i) => upAt(rng, x, k === 1 && i % 2 === 0))
      );
      const norm = op.Tensor.from([3.5], [1]);
      op.adamwUpdateAll(
        sizes.map((_, i) => ({
          p: ps[i],
          g: gs[i],
          m: ms[i],
          v: vs[i],
          weightDecay: i % 3 ? 0.01 : 0,
        })),
        norm,
        { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 0.19, bc2: 0.003, maxGradNorm: 1 },
      );
      return [...ps, ...ms, ...vs];
    });
  } finally {
    op.setMultiTensor(null);
    const counts = new Map((await stopProfile())!.kernels.map((k) => [k.name, k.dispatches]));
    // Four buffers per parameter besides the norm; 12 parameters fill the 64 words.
    const bindings = Math.floor((gpu().limits.maxStorageBuffersPerShaderStage - 1) / 4);
    const most = Math.max(1, Math.min(bindings, 12, groups ?? Infinity));
    const n = sizes.length;
    const perTensor = groups === 0 || (groups === null && gpu().isSoftware);
    const want = perTensor ? ["adamw", n] : ["adamw_multi", Math.ceil(n / most)];
    assert.equal(counts.get(want[0] as string), want[1], `dispatches, groups ${groups}`);
  }
}

for (const [label, sizes] of [["odd sizes", ODD], ["realistic sizes", REALISTIC]] as const) {
  test(`multi_tensor: AdamW over ${label} is bit-identical to the per-parameter kernel`, async (rng) => {
    const init = [
      sizes.map((n) => rng.randn([n])),
      sizes.map((n) => rng.randn([n], 3)),
      sizes.map((n) => rng.randn([n], 0.1)),
      sizes.map((n) => rng.rand([n], 0, 0.01)),
    ];
    const want = await adamwOnce(rng, sizes, 0, init);
    for (const groups of [3, 1, Infinity, null]) {
      const got = await adamwOnce(rng, sizes, groups, init);
      got.forEach((g, i) => assert.deepEqual(g, want[i], `groups ${groups}, output ${i}`));
    }
  });

  test(`multi_tensor: gradient norm and non-finite count over ${label}`, async (rng) => {
    const xs = sizes.map((n) => rng.randn([n]));
    const bad = xs.map((x) => ref.map1(x, (v) => v));
    bad[1].data[0] = NaN;
    bad[bad.length - 1].data[bad[bad.length - 1].data.length - 1] = -Infinity;
    bad[2].data[7 % bad[2].data.length] = Infinity;
    const want = ref.gradNorm(xs.map((x) => x.data));
    for (const groups of [3, 1, Infinity, null]) {
      op.setMultiTensor(groups);
      try {
        const [n, c] = await run(() => [
          globalGradNorm(xs.map((x, i) => upAt(rng, x, i % 2 === 1))),
          op.nonFiniteCount(bad.map(up)),
        ]);
        assertClose(n, [want], { atol: 0, rtol: 1e-6 }, `norm, groups ${groups}`);
        assert.deepEqual([...c], [3], `non-finite count, groups ${groups}`);
      } finally {
        op.setMultiTensor(null);
      }
    }
  });
}

test("multi_tensor: AdamW over many odd parameters, three steps, against float64", async (rng) => {
  const init = ODD.map((n) => rng.randn([n]));
  const params = init.map((x) => op.keep(up(x)));
  op.setMultiTensor(4);
  const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.01, maxGradNorm: 1 });
  const cfg = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
  const state: ref.AdamWState = {
    params: init.map((x) => Float64Array.from(x.data)),
    m: init.map((x) => new Float64Array(x.data.length)),
    v: init.map((x) => new Float64Array(x.data.length)),
    step: 0,
  };
  try {
    for (let s = 0; s < 3; s++) {
      const grads = ODD.map((n) => rng.randn([n], 2));
      grads.forEach((g, i) => (params[i].grad = op.keep(up(g))));
      const [norm] = await run(() => [opt.update()]);
      const refNorm = ref.adamwStep(state, grads.map((g) => g.data), cfg);
      assertClose(norm, [refNorm], { atol: 0, rtol: 1e-5 }, `norm at step ${s}`);
      opt.zeroGrad();
    }
    for (let k = 0; k < ODD.length; k++) {
      assertClose(await read(params[k]), state.params[k], { atol: 2e-6, rtol: 1e-5 }, `param ${k}`);
      assertClose(await read(opt.m[k]), state.m[k], { atol: 1e-7, rtol: 1e-5 }, `m ${k}`);
      assertClose(await read(opt.v[k]), state.v[k], { atol: 1e-9, rtol: 1e-5 }, `v ${k}`);
    }
  } finally {
    op.setMultiTensor(null);
    opt.dispose();
    for (const p of params) p.dispose();
  }
});

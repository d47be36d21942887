// Layer norm over the last axis: rows of 1024 and 4096, inputs with a large mean (where
// E[x^2] - E[x]^2 would cancel catastrophically), strided input, and gradients; each in
// both row-kernel modes (a thread per row, a workgroup per row).
import * as op from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, forEachRowMode, run, test, up } from "./setup.ts";

// Outputs are O(1-5). Statistics accumulated in f32 over n elements (sequentially in
// thread mode) carry ~u * sqrt(n) relative error: 4e-6 typical at n = 4096, so the worst
// of 32k elements stays under 5e-7 * sqrt(n).
const tolFor = (n: number) => ({ atol: 5e-7 * Math.sqrt(n), rtol: 1e-5 });
const TOL = tolFor(16);

test("layernorm: forward, tiny and rows of 1024 and 4096", async (rng) => {
  await forEachRowMode(async () => {
    for (const shape of [[2, 5], [64, 1024], [8, 4096], [2, 3, 768]]) {
      const n = shape[shape.length - 1];
      const x = rng.randn(shape, 2), g = rng.randn([n]), b = rng.randn([n]);
      const [y] = await run(() => [op.layerNorm(up(x), up(g), up(b))]);
      assertClose(y, ref.layerNorm(x, g, b), tolFor(n), `layerNorm [${shape}]`);
    }
  });
});

test("layernorm: large mean (Welford), eps 1e-12, strided input", async (rng) => {
  await forEachRowMode(async () => {
    const x = ref.map1(rng.randn([16, 1024]), (v) => Math.fround(1000 + v));
    const g = rng.randn([1024]), b = rng.randn([1024]);
    const t = rng.randn([6, 4]), gt = rng.randn([6]), bt = rng.randn([6]);
    const [y, y12, ys] = await run(() => [
      op.layerNorm(up(x), up(g), up(b)),
      op.layerNorm(up(x), up(g), up(b), 1e-12),
      op.layerNorm(op.transpose(up(t)), up(gt), up(bt)),
    ]);
    // Inputs near 1000 carry f32 ulps of 6e-5; the statistics inherit about that much.
    assertClose(y, ref.layerNorm(x, g, b), { atol: 5e-4, rtol: 1e-4 }, "mean 1000");
    assertClose(y12, ref.layerNorm(x, g, b, 1e-12), { atol: 5e-4, rtol: 1e-4 }, "eps 1e-12");
    assertClose(ys, ref.layerNorm(ref.transpose(t), gt, bt), TOL, "transposed input");
  });
});

test("layernorm: gradients of x, gamma and beta", async (rng) => {
  await forEachRowMode(async () => {
    await gradcheck({
      inputs: [rng.randn([3, 5], 2), rng.randn([5]), rng.randn([5])],
      gpu: (x, g, b) => op.layerNorm(x, g, b),
      ref: (x, g, b) => ref.layerNorm(x, g, b),
      rng,
    });
    await gradcheck({
      inputs: [rng.randn([2, 2, 3]), rng.randn([3]), rng.randn([3])],
      gpu: (x, g, b) => op.layerNorm(op.transpose(x, 0, 1), g, b, 1e-3),
      ref: (x, g, b) => ref.layerNorm(ref.permute(x, [1, 0, 2]), g, b, 1e-3),
      rng,
      what: "strided x, eps 1e-3",
    });
  });
});

/** Analytic layer-norm backward in float64 (the formula the tiny gradcheck confirms). */
function layerNormGrad(x: Nd, gamma: Nd, g: Nd, eps: number) {
  const n = x.shape[x.shape.length - 1], rows = x.data.length / n;
  const dx = new Float64Array(x.data.length), dg = new Float64Array(n), db = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const xr = x.data.subarray(r * n, (r + 1) * n), gr = g.data.subarray(r * n, (r + 1) * n);
    const mu = xr.reduce((s, v) => s + v, 0) / n;
    const rstd = 1 / Math.sqrt(xr.reduce((s, v) => s + (v - mu) ** 2, 0) / n + eps);
    const xh = xr.map((v) => (v - mu) * rstd), dxh = gr.map((v, j) => v * gamma.data[j]);
    const m1 = dxh.reduce((s, v) => s + v, 0) / n;
    const m2 = dxh.reduce((s, v, j) => s + v * xh[j], 0) / n;
    for (let j = 0; j < n; j++) {
      dx[r * n + j] = rstd * (dxh[j] - m1 - xh[j] * m2);
      dg[j] += gr[j] * xh[j];
      db[j] += gr[j];
    }
  }
  return { dx, dg, db };
}

test("layernorm: backward at [64,1024] vs the analytic gradient", async (rng) => {
  await forEachRowMode(async () => {
    const x = rng.randn([64, 1024], 2), gm = rng.randn([1024]), bt = rng.randn([1024]);
    const g = rng.randn([64, 1024]);
    const [dx, dg, db] = await run(() => {
      const ts = [up(x), up(gm), up(bt)];
      for (const t of ts) t.requiresGrad = true;
      op.backward(op.layerNorm(ts[0], ts[1], ts[2]), up(g));
      const grads = ts.map((t) => op.keep(t.grad!));
      for (const t of ts) t.grad = null;
      return grads;
    });
    const e = layerNormGrad(x, gm, g, 1e-5);
    assertClose(dx, e.dx, { atol: 1e-5, rtol: 1e-4 }, "dx");
    // Sums of 64 rows of O(1) terms.
    assertClose(dg, e.dg, { atol: 1e-4, rtol: 1e-5 }, "dgamma");
    assertClose(db, e.db, { atol: 1e-4, rtol: 1e-5 }, "dbeta");
  });
});

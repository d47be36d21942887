// The fused residualLayerNorm (layerNorm(dropout(x) + residual)) against a float64
// reference and against the separate ops (dropout, add, layerNorm), forward and backward,
// with and without dropout, tiny and at BERT-base shapes, in both row-kernel modes; and
// ResidualOutput fused or not, including a recomputed (checkpointed) block.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import { DropoutRng, type Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, forEachRowMode, run, test, up } from "./setup.ts";
import { Rng } from "../src/nn/init.ts";
import { TransformerLayer } from "../src/nn/transformer.ts";

const tolFor = (n: number) => ({ atol: 5e-7 * Math.sqrt(n), rtol: 1e-5 });
const addRef = (x: Nd, r: Nd) => ref.map2(x, r, (a, b) => a + b);

/** Forward and the gradients of x, residual, gamma, beta for upstream gradient g. */
function forwardBackward(
  f: (x: Tensor, r: Tensor, gm: Tensor, bt: Tensor) => Tensor,
  ins: Nd[],
  g: Nd,
): Tensor[] {
  const ts = ins.map(up);
  for (const t of ts) t.requiresGrad = true;
  const y = f(ts[0], ts[1], ts[2], ts[3]);
  op.backward(y, up(g));
  const grads = ts.map((t) => op.keep(t.grad!));
  for (const t of ts) t.grad = null;
  return [op.keep(y), ...grads];
}

test("residual layer norm: forward vs float64, [2,5,8] and [8,64,768]", async (rng) => {
  await forEachRowMode(async () => {
    for (const shape of [[2, 5, 8], [8, 64, 768], [3, 7]]) {
      const n = shape[shape.length - 1];
      const x = rng.randn(shape, 2), r = rng.randn(shape), g = rng.randn([n]), b = rng.randn([n]);
      const [y] = await run(() => [op.residualLayerNorm(up(x), up(r), up(g), up(b))]);
      const want = ref.layerNorm(addRef(x, r), g, b);
      assertClose(y, want, { atol: 4 * tolFor(n).atol, rtol: 1e-5 }, `[${shape}]`);
    }
  });
});

test("residual layer norm: gradients of x, residual, gamma and beta (no dropout)", async (rng) => {
  await forEachRowMode(async () => {
    await gradcheck({
      inputs: [rng.randn([2, 3, 5], 2), rng.randn([2, 3, 5]), rng.randn([5]), rng.randn([5])],
      gpu: (x, r, g, b) => op.residualLayerNorm(x, r, g, b),
      ref: (x, r, g, b) => ref.layerNorm(addRef(x, r), g, b),
      rng,
    });
    await gradcheck({
      inputs: [rng.randn([2, 4]), rng.randn([4, 2]), rng.randn([4]), rng.randn([4])],
      gpu: (x, r, g, b) => op.residualLayerNorm(x, op.transpose(r), g, b, 1e-3),
      ref: (x, r, g, b) => ref.layerNorm(addRef(x, ref.transpose(r)), g, b, 1e-3),
      rng,
      what: "strided residual, eps 1e-3",
    });
  });
});

test("residual layer norm: same as dropout + add + layerNorm, forward and backward", async (rng) => {
  await forEachRowMode(async () => {
    const cases: [number[], number, "f32" | "f16"][] = [
      [[2, 5, 8], 0, "f32"],
      [[2, 5, 8], 0.5, "f32"],
      [[4, 9], 0.3, "f32"], // n % 4 != 0: scalar loads
      [[8, 64, 768], 0, "f32"],
      [[8, 64, 768], 0.1, "f32"],
      [[8, 64, 768], 0.1, "f16"],
    ];
    for (const [shape, p, dtype] of cases) {
      const n = shape[shape.length - 1];
      const ins = [rng.randn(shape), rng.randn(shape), rng.randn([n]), rng.randn([n])];
      const g = rng.randn(shape);
      const seed = rng.int(1 << 30);
      const r1 = new DropoutRng(seed, 3), r2 = new DropoutRng(seed, 3);
      // Inputs and output in `dtype`; gamma and beta stay f32, as LayerNorm keeps them.
      const io = (f: (x: Tensor, r: Tensor) => Tensor) => (x: Tensor, r: Tensor) =>
        op.cast(f(op.cast(x, dtype), op.cast(r, dtype)), "f32");
      const fused = await run(() =>
        forwardBackward(
          (x, r, gm, bt) =>
            io((a, b) => op.residualLayerNorm(a, b, gm, bt, 1e-5, { p, rng: r1 }))(x, r),
          ins,
          g,
        )
      );
      const sep = await run(() =>
        forwardBackward(
          (x, r, gm, bt) =>
            io((a, b) => op.layerNorm(op.add(op.dropout(a, p, r2), b), gm, bt))(x, r),
          ins,
          g,
        )
      );
      const what = `[${shape}] p ${p} ${dtype}`;
      assert.equal(r1.counter, r2.counter, `dropout counter draws, ${what}`);
      const names = ["y", "dx", "dresidual", "dgamma", "dbeta"];
      // The same operations in the same order, except the column sums of d(gamma) and
      // d(beta), which run over the same values.
      for (let i = 0; i < 3; i++) assert.deepEqual(fused[i], sep[i], `${names[i]} ${what}`);
      const tol = dtype === "f16" ? { atol: 2e-2, rtol: 1e-3 } : { atol: 1e-5, rtol: 1e-5 };
      for (let i = 3; i < 5; i++) assertClose(fused[i], sep[i], tol, `${names[i]} ${what}`);
      if (p > 0 && fused[1].length > 10_000) {
        const dropped = fused[1].filter((v) => v === 0).length / fused[1].length;
        assert.ok(Math.abs(dropped - p) < 0.05, `dropped ${dropped}, ${what}`);
      }
    }
  });
});

test("residual layer norm: backward at [8,64,768] vs the float64 gradient", async (rng) => {
  const shape = [8, 64, 768], n = 768;
  const ins = [rng.randn(shape), rng.randn(shape), rng.randn([n]), rng.randn([n])];
  const g = rng.randn(shape);
  const [, dx, dr, dg, db] = await run(() => forwardBackward(op.residualLayerNorm, ins, g));
  const h = addRef(ins[0], ins[1]), rows = h.data.length / n;
  const edx = new Float64Array(h.data.length), edg = new Float64Array(n), edb = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const hr = h.data.subarray(r * n, (r + 1) * n), gr = g.data.subarray(r * n, (r + 1) * n);
    const mu = hr.reduce((s, v) => s + v, 0) / n;
    const rstd = 1 / Math.sqrt(hr.reduce((s, v) => s + (v - mu) ** 2, 0) / n + 1e-5);
    const xh = hr.map((v) => (v - mu) * rstd), dxh = gr.map((v, j) => v * ins[2].data[j]);
    const m1 = dxh.reduce((s, v) => s + v, 0) / n;
    const m2 = dxh.reduce((s, v, j) => s + v * xh[j], 0) / n;
    for (let j = 0; j < n; j++) {
      edx[r * n + j] = rstd * (dxh[j] - m1 - xh[j] * m2);
      edg[j] += gr[j] * xh[j];
      edb[j] += gr[j];
    }
  }
  assertClose(dx, edx, { atol: 1e-5, rtol: 1e-4 }, "dx");
  assertClose(dr, edx, { atol: 1e-5, rtol: 1e-4 }, "dresidual");
  // Sums of 512 rows of O(1) terms.
  assertClose(dg, edg, { atol: 3e-4, rtol: 1e-5 }, "dgamma");
  assertClose(db, edb, { atol: 3e-4, rtol: 1e-5 }, "dbeta");
});

/** A train-mode layer's output, input gradient and parameter gradients, plain or recomputed. */
function layerStep(layer: TransformerLayer, x: Nd, g: Nd, recompute: boolean): Tensor[] {
  const xt = up(x);
  xt.requiresGrad = true;
  const params = layer.parameters();
  const y = recompute
    ? op.checkpoint((h) => layer.forward(h, null), [xt], {
      params,
      rngs: [layer.output.dropout.rng],
    })
    : layer.forward(xt, null);
  op.backward(y, up(g));
  const out = [op.keep(y), op.keep(xt.grad!), ...params.map((p) => op.keep(p.grad!))];
  xt.grad = null;
  for (const p of params) p.grad = null;
  return out;
}

test("ResidualOutput: fused and separate ops agree in a train-mode layer, recomputed too", async (rng) => {
  const cfg = {
    hidden: 32,
    heads: 2,
    intermediate: 64,
    hiddenDropout: 0.3,
    attentionDropout: 0.1,
    layerNormEps: 1e-5,
    initRange: 0.5,
  };
  const drop = new DropoutRng(17);
  const layer = new TransformerLayer(cfg, new Rng(3), drop);
  for (const p of layer.parameters()) p.requiresGrad = true;
  const x = rng.randn([2, 6, 32]), g = rng.randn([2, 6, 32]);
  try {
    const results: Float64Array[][] = [];
    for (const [fused, recompute] of [[false, false], [true, false], [true, true]]) {
      op.setResidualNormFused(fused);
      drop.counter = 5;
      results.push(await run(() => layerStep(layer, x, g, recompute)));
      assert.equal(drop.counter, 5 + 3, "one draw per dropout: attention, two residuals");
    }
    const [sep, fused, recomputed] = results;
    assert.deepEqual(fused[0], sep[0], "output");
    assert.deepEqual(recomputed[0], fused[0], "recomputed output");
    for (let i = 1; i < sep.length; i++) {
      assertClose(fused[i], sep[i], { atol: 1e-5, rtol: 1e-5 }, `gradient ${i}`);
      assertClose(recomputed[i], fused[i], { atol: 1e-5, rtol: 1e-5 }, `recomputed gradient ${i}`);
    }
  } finally {
    op.setResidualNormFused(true);
    layer.dispose();
  }
});

// Dropout: reproducible masks (same seed and counter, same mask), fresh masks per call,
// keep rate, scaling, and a backward pass that reuses the forward mask.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import { DropoutRng } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { assertClose, run, test, up } from "./setup.ts";

const N = 100_000;

/** 0/1 keep mask of a dropout output whose input had no zeros. */
const maskOf = (y: Float64Array) => y.map((v) => (v !== 0 ? 1 : 0));
const agreement = (a: Float64Array, b: Float64Array) =>
  a.filter((v, i) => v === b[i]).length / a.length;

test("dropout: same seed and counter give the same mask; the counter advances", async (rng) => {
  const x = rng.awayFromZero([N], 0.5, 2);
  const r1 = new DropoutRng(1234), r2 = new DropoutRng(1234);
  const [a, b] = await run(() => {
    const xt = up(x);
    return [op.dropout(xt, 0.1, r1), op.dropout(xt, 0.1, r2)];
  });
  assert.equal(r1.counter, 1);
  assert.deepEqual(a, b);
});

test("dropout: a different counter or seed gives an independent mask", async (rng) => {
  const x = rng.awayFromZero([N], 0.5, 2), p = 0.5;
  const [a, b, c] = await run(() => {
    const xt = up(x);
    return [
      op.dropout(xt, p, new DropoutRng(99, 0)),
      op.dropout(xt, p, new DropoutRng(99, 1)),
      op.dropout(xt, p, new DropoutRng(100, 0)),
    ];
  });
  // Independent masks agree on p^2 + (1-p)^2 = 1/2 of elements (sd 0.0016 at 100k).
  for (const [other, what] of [[b, "counter"], [c, "seed"]] as const) {
    const f = agreement(maskOf(a), maskOf(other));
    assert.ok(Math.abs(f - 0.5) < 0.01, `masks across ${what} agree on ${f}`);
  }
});

test("dropout: keep rate within 5 sd of 1 - p; kept values scaled by 1/(1-p)", async (rng) => {
  const x = rng.awayFromZero([N], 0.5, 2);
  for (const p of [0.1, 0.5, 0.9]) {
    const [y] = await run(() => [op.dropout(up(x), p, new DropoutRng(rng.int(0, 2 ** 31)))]);
    const kept = maskOf(y).reduce((s, v) => s + v, 0) / N;
    const sd = Math.sqrt((p * (1 - p)) / N);
    assert.ok(Math.abs(kept - (1 - p)) < 5 * sd, `p ${p}: keep rate ${kept}`);
    const expected = x.data.map((v, i) => (y[i] === 0 ? 0 : v / (1 - p)));
    assertClose(y, expected, { atol: 0, rtol: 1e-6 }, `scaling at p ${p}`);
  }
});

test("dropout: gradient uses the forward mask (strided input too)", async (rng) => {
  const x = rng.awayFromZero([300, 40], 0.5, 2), g = rng.randn([40, 300]), p = 0.3;
  const [y, dx] = await run(() => {
    const xt = up(x);
    xt.requiresGrad = true;
    const y = op.dropout(op.transpose(xt), p, new DropoutRng(5, 17));
    op.backward(y, up(g));
    const d = op.keep(xt.grad!);
    xt.grad = null;
    return [y, d];
  });
  const expected = ref.nd(g.data.map((v, i) => (y[i] === 0 ? 0 : v / (1 - p))), [40, 300]);
  assertClose(dx, ref.transpose(expected), { atol: 0, rtol: 1e-6 }, "dropout gradient");
});

test("dropout: p = 0 is the identity; p outside [0, 1) is rejected", async (rng) => {
  const x = rng.randn([10]);
  const [y] = await run(() => [op.dropout(up(x), 0, new DropoutRng(1))]);
  assertClose(y, x, { atol: 0 }, "p = 0");
  op.tidy(() => {
    assert.throws(() => op.dropout(op.zeros([2]), 1, new DropoutRng(1)), /dropout probability/);
    assert.throws(() => op.dropout(op.zeros([2]), -0.1, new DropoutRng(1)), /dropout probability/);
  });
});

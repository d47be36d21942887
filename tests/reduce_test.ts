// Reductions over every axis (sum, mean, max; keepDim or not), sumAll, sumTo, and their
// gradients, including max with tied maxima (split evenly, as torch.amax).
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, run, test, up } from "./setup.ts";

const KINDS = ["sum", "mean", "max"] as const;

/** f32 summation error grows with n: bound it by 2e-7 * sqrt(n) * sum|x| (mean: / n). */
function sumTol(x: ref.Nd, axis: number, kind: "sum" | "mean") {
  const n = x.shape[axis < 0 ? axis + x.shape.length : axis];
  const absSum = ref.reduce(ref.map1(x, Math.abs), axis, "sum");
  const limit = absSum.data.reduce((m, v) => Math.max(m, v), 0) * 2e-7 * Math.sqrt(n);
  return { atol: kind === "mean" ? limit / n : limit, rtol: 1e-6 };
}

for (const kind of KINDS) {
  test(`reduce: ${kind} forward over every axis, keepDim both ways`, async (rng) => {
    for (const shape of [[3, 4, 5], [2, 3, 1, 5], [64, 1024], [8, 4096], [1000, 3]]) {
      const x = rng.randn(shape);
      for (let axis = -1; axis < shape.length; axis++) {
        for (const keepDim of [false, true]) {
          const [y] = await run(() => [op[kind](up(x), axis, keepDim)]);
          const e = ref.reduce(x, axis, kind, keepDim);
          const tol = kind === "max" ? { atol: 0 } : sumTol(x, axis, kind);
          assertClose(y, e, tol, `${kind} [${shape}] axis ${axis} keepDim ${keepDim}`);
        }
      }
    }
  });

  test(`reduce: ${kind} gradient over every axis`, async (rng) => {
    for (let axis = 0; axis < 3; axis++) {
      for (const keepDim of [false, true]) {
        await gradcheck({
          inputs: [rng.randn([2, 3, 4])],
          gpu: (x) => op[kind](x, axis, keepDim),
          ref: (x) => ref.reduce(x, axis, kind, keepDim),
          rng,
          what: `${kind} axis ${axis} keepDim ${keepDim}`,
        });
      }
    }
  });
}

test("reduce: reductions of a transposed view", async (rng) => {
  const x = rng.randn([5, 7]);
  const [s, m] = await run(() => {
    const t = op.transpose(up(x));
    return [op.sum(t, 1), op.max(t, 0, true)];
  });
  assertClose(s, ref.reduce(ref.transpose(x), 1, "sum"), { atol: 1e-6, rtol: 1e-6 }, "sum");
  assertClose(m, ref.reduce(ref.transpose(x), 0, "max", true), { atol: 0 }, "max");
});

test("reduce: sumAll of 300k elements and of one", async (rng) => {
  const x = rng.randn([300, 1000]);
  const [s, one] = await run(() => [op.sumAll(up(x)), op.sumAll(op.full([1], 3))]);
  // Sequential f32 partial sums of ~1200 terms then a tree: well within 1e-6 * sum|x|.
  const absSum = ref.sumAll(ref.map1(x, Math.abs));
  assertClose(s, [ref.sumAll(x)], { atol: 1e-6 * absSum }, "sumAll");
  assertClose(one, [3], { atol: 0 }, "sumAll [1]");
});

test("reduce: nonFiniteCount counts NaN and ±Inf across tensors, large and small", async (rng) => {
  const big = rng.randn([300, 1000]).data, small = rng.randn([7]).data;
  const bad = [17, 4096, 299_999], values = [NaN, Infinity, -Infinity];
  bad.forEach((i, k) => (big[i] = values[k]));
  small[3] = NaN;
  // The largest finite f32 and subnormals are finite.
  big[5] = 3.4028234663852886e38;
  big[6] = -1e-40;
  const expected = [...big, ...small].filter((v) => !Number.isFinite(Math.fround(v))).length;
  const [n, none] = await run(() => [
    op.nonFiniteCount([op.Tensor.from(big, [300, 1000]), op.Tensor.from(small, [7])]),
    op.nonFiniteCount([op.Tensor.from(rng.randn([64]).data, [64])]),
  ]);
  assert.equal(expected, 4);
  assert.deepEqual([...n], [4]);
  assert.deepEqual([...none], [0]);
});

test("reduce: sumTo undoes broadcasting", async (rng) => {
  const g = rng.randn([2, 3, 4]);
  const cases: number[][] = [[3, 4], [1, 4], [2, 1, 4], [3, 1], [1], [2, 3, 4]];
  for (const shape of cases) {
    const [y] = await run(() => [op.sumTo(up(g), shape)]);
    // Reference: sum over each axis the target lacks or has as 1.
    let e = g;
    const lead = g.shape.length - shape.length;
    for (let i = g.shape.length - 1; i >= 0; i--) {
      if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) {
        e = ref.reduce(e, i, "sum", true);
      }
    }
    assertClose(y, e.data, { atol: 1e-6 }, `sumTo [${shape}]`);
  }
});

test("reduce: max with two tied maxima splits the gradient (matches central FD)", async (rng) => {
  // Central differences at an exact two-way tie give 1/2 to each, as the even split does.
  const x = rng.randn([3, 4]);
  for (let r = 0; r < 3; r++) x.data[r * 4 + 1] = x.data[r * 4 + 3] = 5 + r;
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.max(t, 1),
    ref: (t) => ref.reduce(t, 1, "max"),
    rng,
  });
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.max(t, 0),
    ref: (t) => ref.reduce(t, 0, "max"),
    rng,
  });
});

test("reduce: max with three tied maxima gives each a third", async (rng) => {
  const x = rng.randn([2, 5]);
  for (const j of [0, 2, 4]) x.data[j] = 9;
  x.data[5 + 1] = x.data[5 + 3] = x.data[5 + 4] = 7;
  const g = rng.randn([2]);
  const [dx] = await run(() => {
    const t = up(x);
    t.requiresGrad = true;
    op.backward(op.max(t, 1), up(g));
    const grad = t.grad!;
    op.keep(grad);
    t.grad = null;
    return [grad];
  });
  assertClose(dx, ref.maxGrad(x, 1, g), { atol: 1e-7 }, "3-way tie gradient");
});

test("reduce: axis out of range is rejected", () => {
  assert.throws(() => op.tidy(() => op.sum(op.zeros([2, 3]), 2)), /out of range/);
});

// indexSelect / embedding: every axis, repeated ids (whose gradients must add up without
// float atomics), a realistic embedding, sliced ids, and the error cases.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, run, test, up } from "./setup.ts";

const ids = (v: number[], shape = [v.length]) => Tensor.from(v, shape, "i32");

test("index: indexSelect along every axis with repeated ids", async (rng) => {
  const x = rng.randn([3, 5, 4]);
  const sel: [number, number[], number[]][] = [
    [0, [2, 0, 2, 2], [2, 2]],
    [1, [4, 4, 1, 0, 4], [5]],
    [2, [3, 3, 0], [3]],
    [-1, [1], [1]],
  ];
  for (const [axis, v, shape] of sel) {
    const [y] = await run(() => [op.indexSelect(up(x), axis, ids(v, shape))]);
    const a = axis < 0 ? axis + 3 : axis;
    assertClose(y, ref.indexSelect(x, a, v, shape), { atol: 0 }, `axis ${axis}`);
  }
});

test("index: embedding [1000,768] by ids [8,128] with repeats, forward and backward", async (rng) => {
  const table = rng.randn([1000, 768]);
  const v = rng.ints(8 * 128, 0, 300); // ~3 uses per id: plenty of repeats
  const g = rng.randn([8, 128, 768]);
  const [y, dt] = await run(() => {
    const t = up(table);
    t.requiresGrad = true;
    const out = op.embedding(t, ids(v, [8, 128]));
    op.backward(out, up(g));
    const d = op.keep(t.grad!);
    t.grad = null;
    return [out, d];
  });
  assertClose(y, ref.indexSelect(table, 0, v, [8, 128]), { atol: 0 }, "embedding");
  const e = new Float64Array(1000 * 768); // scatter-add in float64
  v.forEach((id, p) => {
    for (let i = 0; i < 768; i++) e[id * 768 + i] += g.data[p * 768 + i];
  });
  assertClose(dt, e, { atol: 1e-5, rtol: 1e-6 }, "embedding gradient");
});

test("index: gradients with repeated ids, embedding and inner axis", async (rng) => {
  const v = [1, 3, 1, 1, 0];
  await gradcheck({
    inputs: [rng.randn([4, 3])],
    gpu: (t) => op.embedding(t, ids(v)),
    ref: (t) => ref.indexSelect(t, 0, v, [5]),
    rng,
    what: "embedding",
  });
  await gradcheck({
    inputs: [rng.randn([2, 4, 3])],
    gpu: (t) => op.indexSelect(t, 1, ids(v.slice(0, 4), [2, 2])),
    ref: (t) => ref.indexSelect(t, 1, v.slice(0, 4), [2, 2]),
    rng,
    what: "axis 1",
  });
});

test("index: ids given as a sliced view", async (rng) => {
  const x = rng.randn([6, 3]);
  const [y] = await run(() => [op.embedding(up(x), op.slice(ids([5, 0, 4, 4, 2]), 0, 1, 4))]);
  assertClose(y, ref.indexSelect(x, 0, [0, 4, 4], [3]), { atol: 0 }, "sliced ids");
});

test("index: out-of-range, float, and GPU-made ids are rejected", () => {
  op.tidy(() => {
    const x = op.zeros([4, 2]);
    assert.throws(() => op.embedding(x, ids([0, 4])), /out of range/);
    assert.throws(() => op.embedding(x, ids([-1])), /out of range/);
    assert.throws(() => op.embedding(x, op.zeros([2])), /i32/);
    assert.throws(() => op.embedding(x, op.full([2], 1, "i32")), /uploaded from the CPU/);
  });
});

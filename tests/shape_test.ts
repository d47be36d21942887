// Shape ops and views: values, and gradients flowing back through views (including views of
// views, which exercise the strided paths of every consumer).
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, run, test, up } from "./setup.ts";

const exact = { atol: 0 };

test("shape: reshape, permute, transpose, slice, expand, contiguous values", async (rng) => {
  const x = rng.randn([2, 3, 4]);
  const [r, p, t, s, e, c] = await run(() => {
    const xt = up(x);
    return [
      op.reshape(xt, [4, -1]),
      op.permute(xt, [2, 0, 1]),
      op.transpose(xt, 0, 2),
      op.slice(xt, 2, 1, 3),
      op.expand(op.slice(xt, 1, 1, 2), [5, 2, 3, 4]),
      op.contiguous(op.permute(xt, [1, 2, 0])),
    ];
  });
  assertClose(r, x.data, exact, "reshape");
  assertClose(p, ref.permute(x, [2, 0, 1]), exact, "permute");
  assertClose(t, ref.permute(x, [2, 1, 0]), exact, "transpose");
  assertClose(s, ref.slice(x, 2, 1, 3), exact, "slice");
  assertClose(e, ref.expand(ref.slice(x, 1, 1, 2), [5, 2, 3, 4]), exact, "expand");
  assertClose(c, ref.permute(x, [1, 2, 0]), exact, "contiguous");
});

test("shape: views share storage; reshape of a strided view copies", async (rng) => {
  const x = rng.randn([3, 4]);
  const [r] = await run(() => {
    const xt = up(x);
    const t = op.transpose(xt);
    assert.equal(t.storage, xt.storage);
    assert.equal(op.slice(xt, 0, 1, 2).storage, xt.storage);
    const r = op.reshape(t, [12]);
    assert.notEqual(r.storage, xt.storage);
    return [r];
  });
  assertClose(r, ref.transpose(x).data, exact, "reshape(transpose)");
});

test("shape: concat along each axis, including views", async (rng) => {
  const a = rng.randn([2, 3, 4]), b = rng.randn([2, 3, 4]), c = rng.randn([4, 3, 2]);
  for (let axis = 0; axis < 3; axis++) {
    const [y] = await run(() => {
      const ct = op.permute(up(c), [2, 1, 0]);
      return [op.concat([up(a), ct, op.slice(up(b), axis, 1, 2)], axis)];
    });
    const e = ref.concat([a, ref.permute(c, [2, 1, 0]), ref.slice(b, axis, 1, 2)], axis);
    assertClose(y, e, exact, `concat axis ${axis}`);
  }
});

test("shape: copyInto a strided region", async (rng) => {
  const src = rng.randn([3, 2]);
  const [y] = await run(() => {
    const dst = op.zeros([2, 5]);
    const region = op.transpose(op.slice(dst, 1, 1, 4));
    op.copyInto(region, up(src));
    return [dst];
  });
  const e = new Float64Array(10);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) e[j * 5 + 1 + i] = src.data[i * 2 + j];
  assertClose(y, e, exact, "copyInto");
});

test("shape: gradients through reshape, permute, transpose, contiguous", async (rng) => {
  const x = rng.randn([2, 3, 4]);
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.reshape(t, [4, 6]),
    ref: (t) => ref.reshape(t, [4, 6]),
    rng,
  });
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.permute(t, [1, 2, 0]),
    ref: (t) => ref.permute(t, [1, 2, 0]),
    rng,
  });
  await gradcheck({ inputs: [x], gpu: (t) => op.transpose(t), ref: (t) => ref.transpose(t), rng });
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.contiguous(op.permute(t, [2, 0, 1])),
    ref: (t) => ref.permute(t, [2, 0, 1]),
    rng,
  });
});

test("shape: gradients through slice, expand and views of views", async (rng) => {
  const x = rng.randn([3, 4]);
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.slice(t, 1, 1, 3),
    ref: (t) => ref.slice(t, 1, 1, 3),
    rng,
  });
  await gradcheck({
    inputs: [rng.randn([3, 1])],
    gpu: (t) => op.expand(t, [2, 3, 4]),
    ref: (t) => ref.expand(t, [2, 3, 4]),
    rng,
  });
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.reshape(op.slice(op.transpose(t), 0, 1, 3), [-1]),
    ref: (t) => ref.reshape(ref.slice(ref.transpose(t), 0, 1, 3), [6]),
    rng,
  });
  // Two overlapping slices of one tensor: both contributions land in the same gradient.
  await gradcheck({
    inputs: [x],
    gpu: (t) => op.mul(op.slice(t, 1, 0, 3), op.slice(t, 1, 1, 4)),
    ref: (t) => ref.mul(ref.slice(t, 1, 0, 3), ref.slice(t, 1, 1, 4)),
    rng,
  });
});

test("shape: concat gradient reaches every input", async (rng) => {
  const a = rng.randn([2, 3]), b = rng.randn([2, 1]), c = rng.randn([3, 2]);
  await gradcheck({
    inputs: [a, b, c],
    gpu: (x, y, z) => op.concat([x, y, op.transpose(z)], 1),
    ref: (x, y, z) => ref.concat([x, y, ref.transpose(z)], 1),
    rng,
  });
  // Along axis 0 (a gradient stride > 1), and consumed through a transposed view (a
  // strided upstream gradient).
  await gradcheck({
    inputs: [a, rng.randn([1, 3])],
    gpu: (x, y) => op.concat([x, y], 0),
    ref: (x, y) => ref.concat([x, y], 0),
    rng,
  });
  await gradcheck({
    inputs: [a, b],
    gpu: (x, y) => op.transpose(op.concat([x, y], 1)),
    ref: (x, y) => ref.transpose(ref.concat([x, y], 1)),
    rng,
  });
});

test("shape: invalid shapes are rejected", () => {
  op.tidy(() => {
    const x = op.zeros([2, 3]);
    assert.throws(() => op.reshape(x, [4, 2]), /cannot reshape/);
    assert.throws(() => op.slice(x, 1, 2, 4), /out of range/);
    assert.throws(() => op.expand(x, [2, 4]), /cannot expand/);
    assert.throws(() => op.permute(x, [0, 0]), /bad permutation/);
    assert.throws(() => op.concat([x, op.zeros([3, 3])], 1), /concat/);
  });
});

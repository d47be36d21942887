// Bind-group cache: declared layouts from kernel sources (unused bindings may be left
// out); repeated dispatches over the same
// buffers reuse a bind group with the right parameters; after the pool destroys a buffer and
// hands out a new one of the same size class, dispatches read the new buffer; with the cache
// off every dispatch gets a fresh bind group and the same results.
import assert from "node:assert/strict";
import { bindGroupCacheSize, bindGroupStats, setBindGroupCache } from "../src/gpu/bind_groups.ts";
import { bindingSignature, kernel } from "../src/gpu/kernel.ts";
import { dispatch, f32bits } from "../src/gpu/queue.ts";
import { pool } from "../src/gpu/pool.ts";
import * as op from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { assertClose, run, test, up } from "./setup.ts";

test("bind_groups: storage access is read from the declarations, comments ignored", () => {
  const src = `@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 16>;
    @group(0) @binding(2) var<storage, read_write> O: array<f32>;
    // @group(0) @binding(3) var<storage, read_write> Commented: array<f32>;
    @group(0)  @binding(1)  var<storage, read> X: array<f32>;
    @group(0) @binding(3) var<storage> Y: array<f32>;`;
  assert.equal(bindingSignature(src), "rwr");
  assert.equal(bindingSignature(""), "");
  assert.throws(
    () => bindingSignature("@group(0) @binding(2) var<storage, read> X: array<f32>;"),
    /binding 1 is not declared/,
  );
  assert.throws(
    () => bindingSignature("@group(0) @binding(0) var<storage, read> X: array<f32>;"),
    /group 0 takes P/,
  );
});

test("bind_groups: a declared binding the kernel never uses may be left out", async () => {
  // As with "auto" layouts, callers bind only what the shader uses; the rest get a filler.
  const k = kernel(
    "bind_groups_test",
    `@group(0) @binding(1) var<storage, read_write> O: array<f32>;
     @group(0) @binding(2) var<storage, read> Unused: array<f32>;
     @compute @workgroup_size(64)
     fn main(@builtin(global_invocation_id) id: vec3<u32>) {
       if (id.x < pu(0u)) { O[id.x] = f32(id.x) * pf(1u); }
     }`,
  );
  const out = op.Tensor.empty([100]);
  dispatch(k, [{ buffer: out.buffer, what: "output" }], [100, f32bits(0.5)], 2);
  assert.deepEqual([...await out.data()], Array.from({ length: 100 }, (_, i) => i * 0.5));
  out.dispose();
});

/** y = x * s + b over `n` elements, `reps` times with fresh inputs; returns the outputs. */
async function affine(rng: { randn(s: number[]): ref.Nd }, n: number, scales: number[]) {
  const xs = scales.map(() => rng.randn([n]));
  const got = [];
  for (const [i, s] of scales.entries()) {
    const [y] = await run(() => [op.add(op.mul(up(xs[i]), op.full([1], s)), op.full([n], i))]);
    got.push(y);
    assertClose(
      y,
      ref.map1(xs[i], (v) => Math.fround(Math.fround(v * s) + i)),
      { atol: 0 },
      `rep ${i}`,
    );
  }
  return got;
}

test("bind_groups: repeated dispatches hit the cache and get their own parameters", async (rng) => {
  const h0 = bindGroupStats.hits;
  await affine(rng, 1000, [2, -3, 0.5, 7, 1.25]);
  assert.ok(bindGroupStats.hits - h0 >= 4, `hits ${bindGroupStats.hits - h0}`);
});

test("bind_groups: a destroyed buffer's size class, reallocated, is read afresh", async (rng) => {
  for (const n of [300, 5000]) {
    await affine(rng, n, [1.5, 2]);
    const before = bindGroupCacheSize();
    pool.trim(); // destroys every free buffer: the inputs and outputs above
    assert.ok(bindGroupCacheSize() < before, "entries over destroyed buffers are dropped");
    const allocated = pool.stats.buffersAllocated;
    await affine(rng, n, [-1, 3, 0.25]); // new buffers of the same size classes
    assert.ok(pool.stats.buffersAllocated > allocated, "new buffers were allocated");
  }
});

test("bind_groups: the cache off gives a fresh bind group per dispatch, same results", async (rng) => {
  setBindGroupCache(false);
  try {
    const h0 = bindGroupStats.hits;
    await affine(rng, 777, [3, 4, 5]);
    assert.equal(bindGroupStats.hits, h0);
    assert.equal(bindGroupCacheSize(), 0);
  } finally {
    setBindGroupCache(true);
  }
});

test("bind_groups: the pool hands out its oldest free buffer, whatever the order of frees", () => {
  // So a training step's tensors get the same buffers every step, and their bind groups hit.
  pool.trim(); // no free buffers from earlier tests
  const held = [0, 1, 2].map(() => pool.acquire(12345 * 4, "order test"));
  for (const order of [[1, 2, 0], [2, 0, 1], [0, 2, 1]]) {
    for (const i of order) pool.release(held[i]);
    const again = [0, 1, 2].map(() => pool.acquire(12345 * 4, "order test"));
    assert.deepEqual(again, held, `freed in order ${order}`);
  }
  for (const b of held) pool.release(b);
});

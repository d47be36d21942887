// The GPU runtime: grids above 65,535 workgroups (folded into 2-D), tensors above the
// binding limit, the pipeline cache, and buffer-pool reuse.
import assert from "node:assert/strict";
import { gpu } from "../src/gpu/device.ts";
import { kernel, kernelCacheSize } from "../src/gpu/kernel.ts";
import { pool, sizeClass } from "../src/gpu/pool.ts";
import * as op from "../src/tensor/mod.ts";
import { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { assertClose, forEachRowMode, run, test, up } from "./setup.ts";

test("gpu: an elementwise op over 65,536*256+5 elements is right to the last element", async () => {
  const n = 65536 * 256 + 5; // 65,537 workgroups of 256: one more than a dimension allows
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i % 4099;
  const y = op.tidy(() => op.mulScalar(Tensor.from(x, [n]), 2));
  const z = op.tidy(() => op.zeros([n]));
  try {
    const yd = await y.data(), zd = await z.data();
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++) if (yd[i] !== 2 * (i % 4099) || zd[i] !== 0) bad = i;
    assert.equal(bad, -1, `element ${bad}: got ${yd[bad]} and ${zd[bad]}`);
  } finally {
    y.dispose();
    z.dispose();
  }
});

test("gpu: row kernels over 70,000 rows (folded grids)", async (rng) => {
  const x = rng.randn([70000, 3]);
  // One workgroup per row (reduce_rows): 70,000 workgroups.
  const [s, ids] = await run(() => {
    const xt = up(x);
    return [op.sum(xt, 1), op.indexSelect(xt, 0, Tensor.from([69999, 0], [2], "i32"))];
  });
  assertClose(s, ref.reduce(x, 1, "sum"), { atol: 1e-6, rtol: 1e-6 }, "row sums");
  assertClose(ids, ref.indexSelect(x, 0, [69999, 0], [2]), { atol: 0 }, "index select");
  await forEachRowMode(async () => {
    const [p] = await run(() => [op.softmax(up(x))]);
    assertClose(p, ref.softmax(x), { atol: 1e-8, rtol: 1e-5 }, "softmax");
  });
});

// llvmpipe silently ends a shader loop after 65,535 iterations; kernels must chunk
// (matmul's long-K case is in matmul_test.ts).
test("gpu: loops past 65,535 iterations: long columns and rows, repeated ids", async (rng) => {
  const col = rng.randn([70000, 3]), row = rng.randn([2, 70000]);
  const [cs, cm, sm] = await run(
    () => [op.sum(up(col), 0), op.max(up(col), 0), op.softmax(up(row))],
  );
  const abs = ref.reduce(ref.map1(col, Math.abs), 0, "sum").data;
  assertClose(
    cs,
    ref.reduce(col, 0, "sum"),
    { atol: 2e-7 * Math.sqrt(70000) * Math.max(...abs) },
    "column sum",
  );
  assertClose(cm, ref.reduce(col, 0, "max"), { atol: 0 }, "column max");
  assertClose(sm, ref.softmax(row), { atol: 1e-10, rtol: 1e-4 }, "softmax of a 70k row");
  // One id 70,000 times: its gradient row sums 70,000 upstream rows.
  const ids = new Array(70000).fill(1);
  ids[5] = 0;
  const g = rng.randn([70000, 2]);
  const [dt] = await run(() => {
    const t = up(rng.randn([3, 2]));
    t.requiresGrad = true;
    op.backward(op.embedding(t, Tensor.from(ids, [70000], "i32")), up(g));
    const d = op.keep(t.grad!);
    t.grad = null;
    return [d];
  });
  const e = new Float64Array(6);
  ids.forEach((id, p) => (e[id * 2] += g.data[p * 2], e[id * 2 + 1] += g.data[p * 2 + 1]));
  assertClose(dt, e, { atol: 1e-7 * 70000 }, "repeated-id gradient");
});

test("gpu: an index-select gradient over 150,000 distinct ids", async (rng) => {
  const n = 150000, x = rng.randn([n, 1]), g = rng.randn([n, 1]);
  const ids = Array.from({ length: n }, (_, i) => n - 1 - i);
  const [dx] = await run(() => {
    const t = up(x);
    t.requiresGrad = true;
    op.backward(op.embedding(t, Tensor.from(ids, [n], "i32")), up(g));
    const d = op.keep(t.grad!);
    t.grad = null;
    return [d];
  });
  assertClose(dx, [...g.data].reverse(), { atol: 0 }, "permuted gradient");
});

test("gpu: a tensor above maxStorageBufferBindingSize fails with a clear error", () => {
  const limit = gpu().limits.maxStorageBufferBindingSize;
  const n = limit / 4 + 1024; // one buffer just over the limit (~128 MiB on llvmpipe)
  op.setPoison(false); // poisoning would hit the limit already while filling the new buffer
  try {
    op.tidy(() => {
      const big = Tensor.empty([n]);
      // A reduction to one value: only the input is big (one ~144 MiB buffer in all).
      assert.throws(() => op.sum(big, 0), (e: Error) => {
        assert.match(e.message, /maxStorageBufferBindingSize/);
        assert.match(e.message, /input/); // names the offending binding
        return true;
      });
    });
  } finally {
    op.setPoison(true);
    pool.trim(); // give the big buffers back to the driver
  }
});

test("gpu: the pipeline cache returns the same kernel for the same key", async (rng) => {
  const src = "@group(0) @binding(1) var<storage, read_write> O: array<{{T}}>;\n" +
    "@compute @workgroup_size(1) fn main() { O[0] = {{T}}(pf(0u)); }";
  const a = kernel("cache_probe", src, { T: "f32" });
  assert.equal(kernel("cache_probe", src, { T: "f32" }), a);
  assert.notEqual(kernel("cache_probe", src, { T: "i32" }), a);
  assert.throws(() => kernel("cache_probe", src, {}), /needs a value for \{\{T\}\}/);
  // Repeating an op at the same shapes compiles nothing new.
  const x = rng.randn([33, 17]);
  await run(() => [op.softmax(op.gelu(up(x)))]);
  const size = kernelCacheSize();
  await run(() => [op.softmax(op.gelu(up(x)))]);
  assert.equal(kernelCacheSize(), size);
});

test("gpu: the pool reuses freed buffers of the same size class", () => {
  const t1 = op.tidy(() => op.zeros([1000]));
  const buf = t1.buffer;
  t1.dispose();
  const allocated = pool.stats.bytesAllocated;
  const t2 = op.tidy(() => op.zeros([999]));
  assert.equal(t2.buffer, buf, "same size class reuses the buffer");
  assert.equal(pool.stats.bytesAllocated, allocated);
  t2.dispose();
  // Classes: powers of two to 1 MiB, then eighths of a power of two.
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(4000), 4096);
  assert.equal(sizeClass(2 ** 20), 2 ** 20);
  assert.equal(sizeClass(2 ** 20 + 1), 2 ** 20 + 2 ** 17);
  assert.ok(sizeClass(3e6) >= 3e6 && sizeClass(3e6) <= 3e6 * 1.125);
});

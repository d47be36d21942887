// Ownership: tidy() disposes what it does not return, keep() opts out, errors clean up,
// and a 200-step training loop neither leaks tensors nor grows the buffer pool.
import assert from "node:assert/strict";
import { pool } from "../src/gpu/pool.ts";
import { AdamW } from "../src/nn/optim.ts";
import * as op from "../src/tensor/mod.ts";
import { DropoutRng, Tensor } from "../src/tensor/mod.ts";
import { read, test, up } from "./setup.ts";

test("scope: tidy disposes intermediates and keeps what it returns", async () => {
  let mid: Tensor | null = null, kept: Tensor | null = null;
  const out = op.tidy(() => {
    const x = op.full([4], 2);
    mid = op.exp(x);
    kept = op.keep(op.mulScalar(x, 3));
    const inner = op.tidy(() => ({ a: [op.addScalar(mid!, 1)], b: op.neg(x) }));
    return { y: op.add(mid, x), inner };
  });
  assert.ok(mid!.disposed, "intermediate disposed");
  assert.ok(!out.y.disposed && !out.inner.a[0].disposed && !out.inner.b.disposed);
  assert.deepEqual([...await read(kept!)], [6, 6, 6, 6]);
  assert.deepEqual([...await read(out.inner.b)], [-2, -2, -2, -2]);
  for (const t of [out.y, out.inner.a[0], out.inner.b, kept!]) t.dispose();
  assert.throws(() => mid!.buffer, /disposed tensor/);
});

test("scope: a throwing tidy disposes everything it made; async fns are refused", () => {
  const before = op.liveTensors();
  assert.throws(() =>
    op.tidy(() => {
      op.zeros([3]);
      op.ones([3]);
      throw new Error("boom");
    }), /boom/);
  assert.equal(op.liveTensors(), before);
  assert.throws(() => op.tidy(() => Promise.resolve(1) as unknown as number), /synchronous/);
});

test("scope: a 200-step training loop leaks no tensors and does not grow the pool", async (rng) => {
  // Embedding -> layer norm -> GELU -> dropout -> linear -> cross-entropy, trained by AdamW:
  // every backward path that allocates (scatter plans, saved statistics) runs each step.
  const V = 50, D = 32, C = 7, B = 48;
  const init = (shape: number[], s: number) => op.keep(up(rng.randn(shape, s)));
  const params = [
    init([V, D], 1),
    op.keep(op.ones([D])),
    op.keep(op.zeros([D])),
    init([C, D], 0.1),
    op.keep(op.zeros([C])),
  ];
  for (const p of params) p.requiresGrad = true;
  const [emb, gamma, beta, w, b] = params;
  const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.01, maxGradNorm: 1 });
  const drop = new DropoutRng(3);
  const ids = rng.ints(B, 0, V), labels = ids.map((i) => i % C);
  labels[0] = -100;
  let atStep10 = { live: 0, allocated: 0, inUse: 0 };
  const losses: number[] = [];
  try {
    for (let step = 0; step < 200; step++) {
      const loss = op.tidy(() => {
        const h = op.embedding(emb, Tensor.from(ids, [B], "i32"));
        const z = op.dropout(op.gelu(op.layerNorm(h, gamma, beta)), 0.1, drop);
        const loss = op.crossEntropy(op.linear(z, w, b), Tensor.from(labels, [B], "i32"));
        op.backward(loss);
        opt.update().dispose();
        opt.zeroGrad();
        return loss;
      });
      if (step === 0 || step === 199) losses.push((await read(loss))[0]);
      loss.dispose();
      if (step === 9) {
        atStep10 = {
          live: op.liveTensors(),
          allocated: pool.stats.bytesAllocated,
          inUse: pool.stats.bytesInUse,
        };
      }
    }
    assert.deepEqual(
      {
        live: op.liveTensors(),
        allocated: pool.stats.bytesAllocated,
        inUse: pool.stats.bytesInUse,
      },
      atStep10,
    );
    assert.ok(losses[1] < 0.5 * losses[0], `loss fell from ${losses[0]} to ${losses[1]}`);
  } finally {
    opt.dispose();
    for (const p of params) p.dispose();
  }
});

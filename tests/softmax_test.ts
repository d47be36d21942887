// Softmax over the last axis with an optional additive mask: rows of 1024 and 4096, masks
// broadcast attention-style, extreme logits, strided input, and gradients; each in both
// row-kernel modes (a thread per row, a workgroup per row).
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, forEachRowMode, type Rng, run, test, up } from "./setup.ts";

// Outputs are in (0, 1): relative error from f32 exp (a few ulp) and the f32 row sum.
const TOL = { atol: 1e-9, rtol: 1e-5 };

/** A 0 / -inf padding mask of `shape`, keeping at least the first column of each row. */
function padMask(rng: Rng, shape: number[], fill = -Infinity): Nd {
  const n = shape[shape.length - 1];
  const m = ref.nd(new Float64Array(ref.numel(shape)), shape);
  m.data.forEach((_, i) => (m.data[i] = i % n !== 0 && rng.next() < 0.3 ? fill : 0));
  return m;
}

test("softmax: forward, tiny and rows of 1024 and 4096", async (rng) => {
  await forEachRowMode(async () => {
    for (const shape of [[2, 5], [64, 1024], [8, 4096], [3, 1]]) {
      const x = rng.randn(shape, 3);
      const [y] = await run(() => [op.softmax(up(x))]);
      assertClose(y, ref.softmax(x), TOL, `softmax [${shape}]`);
    }
  });
});

test("softmax: additive masks, broadcast and full, -inf and -1e9", async (rng) => {
  await forEachRowMode(async () => {
    const cases: [number[], number[], number][] = [
      [[64, 1024], [1024], -Infinity],
      [[2, 4, 16, 1024], [2, 1, 1, 1024], -1e9], // attention: [B, H, S, S] + [B, 1, 1, S]
      [[8, 4096], [8, 4096], -Infinity],
      [[3, 7], [1, 7], -3.4028234663852886e38], // the f32 minimum, as HF masks use
    ];
    for (const [xs, ms, fill] of cases) {
      const x = rng.randn(xs, 2), m = padMask(rng, ms, fill);
      const [y] = await run(() => [op.softmax(up(x), up(m))]);
      assertClose(y, ref.softmax(x, m), TOL, `softmax [${xs}] mask [${ms}] fill ${fill}`);
    }
  });
});

test("softmax: extreme logits stay finite; strided input", async (rng) => {
  await forEachRowMode(async () => {
    const x = rng.randn([4, 300], 1000);
    const t = rng.randn([9, 6]);
    const [y, yt] = await run(() => [op.softmax(up(x)), op.softmax(op.transpose(up(t)))]);
    assertClose(y, ref.softmax(x), TOL, "large logits");
    assertClose(yt, ref.softmax(ref.transpose(t)), TOL, "transposed input");
  });
});

test("softmax: gradient, with and without a broadcast mask", async (rng) => {
  await forEachRowMode(async () => {
    await gradcheck({
      inputs: [rng.randn([2, 5])],
      gpu: (x) => op.softmax(x),
      ref: (x) => ref.softmax(x),
      rng,
    });
    await gradcheck({
      inputs: [rng.randn([2, 3, 5]), padMask(rng, [2, 1, 5])],
      constant: [1],
      gpu: (x, m) => op.softmax(x, m),
      ref: (x, m) => ref.softmax(x, m),
      rng,
      what: "masked",
    });
  });
});

test("softmax: backward at [64,1024] vs y * (g - sum(g * y))", async (rng) => {
  await forEachRowMode(async () => {
    const x = rng.randn([64, 1024], 2), g = rng.randn([64, 1024]);
    const [dx] = await run(() => {
      const xt = up(x);
      xt.requiresGrad = true;
      op.backward(op.softmax(xt), up(g));
      const d = xt.grad!;
      xt.grad = null;
      return [op.keep(d)];
    });
    const y = ref.softmax(x), n = 1024;
    // g - sum(g*y) can cancel, so each element's error is bounded relative to the terms it
    // is made of, y * (|g| + sum|g*y|), rather than to the result (f32 summation of 1024
    // products: well under 1e-5 of that).
    let worst = 0, at = -1;
    for (let r = 0; r < 64; r++) {
      let s = 0, sAbs = 0;
      for (let j = 0; j < n; j++) {
        s += g.data[r * n + j] * y.data[r * n + j];
        sAbs += Math.abs(g.data[r * n + j] * y.data[r * n + j]);
      }
      for (let j = 0; j < n; j++) {
        const k = r * n + j, yk = y.data[k], e = yk * (g.data[k] - s);
        const tol = 1e-4 * Math.abs(e) + 1e-5 * yk * (Math.abs(g.data[k]) + sAbs) + 1e-12;
        const ratio = Math.abs(dx[k] - e) / tol;
        if (!(ratio <= worst)) [worst, at] = [ratio, k];
      }
    }
    assert.ok(worst <= 1, `softmax backward: element ${at} off by ${worst.toFixed(2)}x its bound`);
  });
});

test("softmax: vec4 and scalar row loads, masks splat along rows, unaligned views", async (rng) => {
  await forEachRowMode(async () => {
    for (const variant of [null, "scalar"] as const) {
      op.setRowVariant(variant);
      try {
        // A mask constant along each row ([.., 1]), and a dense mask read through an
        // offset of 1 (vec4 impossible: scalar loads); an x view at offset 2.
        const x = rng.randn([2, 3, 8], 2), mr = rng.randn([2, 3, 1]);
        const big = rng.randn([49]), xs = rng.randn([50]);
        const [a, b, c] = await run(() => [
          op.softmax(up(x), up(mr)),
          op.softmax(up(x), op.reshape(op.slice(up(big), 0, 1, 49), [2, 3, 8])),
          op.softmax(op.reshape(op.slice(up(xs), 0, 2, 50), [3, 16])),
        ]);
        const what = `${variant ?? "vec4"} loads`;
        assertClose(a, ref.softmax(x, mr), TOL, `row-constant mask, ${what}`);
        const bm = ref.reshape(ref.slice(big, 0, 1, 49), [2, 3, 8]);
        assertClose(b, ref.softmax(x, bm), TOL, `mask at offset 1, ${what}`);
        const xr = ref.reshape(ref.slice(xs, 0, 2, 50), [3, 16]);
        assertClose(c, ref.softmax(xr), TOL, `x at offset 2, ${what}`);
        await gradcheck({
          inputs: [rng.randn([2, 8])],
          gpu: (t) => op.softmax(t),
          ref: (t) => ref.softmax(t),
          rng,
          what: `gradient, ${what}`,
        });
      } finally {
        op.setRowVariant(null);
      }
    }
  });
});

// f16 paths (only where the adapter has shader-f16): cast round trips, matmul with f16
// operands, softmax / layer norm / GELU on f16 tensors, and gradients through f16 ops.
// f16 keeps 11 significant bits: one rounding is at most 2^-11 ~ 4.9e-4 relative.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { assertClose, f16round, hasF16, rms, type Rng, run, test, up } from "./setup.ts";

const ignore = !hasF16;
const h = (x: Nd) => op.cast(up(x), "f16");

test(
  "f16: cast round trip is exact for f16 values, within half an f16 ulp otherwise",
  async (rng) => {
    const exact = f16round(rng.randn([4097], 10));
    const any = rng.randn([4097], 10);
    const [a, b] = await run(() => [op.cast(h(exact), "f32"), op.cast(h(any), "f32")]);
    assertClose(a, exact, { atol: 0 }, "f16 values");
    // Round to nearest: at most 2^-11 relative (plus the subnormal spacing 2^-24).
    assertClose(b, any, { atol: 2 ** -24, rtol: 2 ** -11 }, "f32 values");
  },
  { ignore },
);

test("f16: gradient flows back through casts in the input's dtype", async (rng) => {
  const x = rng.randn([300]), r = rng.randn([300]);
  const [g] = await run(() => {
    const xt = up(x);
    xt.requiresGrad = true;
    const y = op.cast(op.mul(op.cast(xt, "f16"), h(r)), "f32");
    assert.equal(y.dtype, "f32");
    op.backward(y, op.ones([300]));
    const d = op.keep(xt.grad!);
    xt.grad = null;
    assert.equal(d.dtype, "f32");
    return [d];
  });
  assertClose(g, f16round(r), { atol: 0 }, "d/dx of f16(x) * f16(r)");
}, { ignore });

/** |f16 matmul - f32 reference| <= 1e-2 * rms(reference): f16 inputs and output round. */
async function checkMatmul(rng: Rng, m: number, k: number, n: number, ta: boolean, tb: boolean) {
  const a = rng.randn([m, k]), b = rng.randn([k, n]);
  const as = ta ? ref.transpose(a) : a, bs = tb ? ref.transpose(b) : b;
  const view = (t: Tensor, tr: boolean) => (tr ? op.transpose(t) : t);
  const [y] = await run(() => {
    const out = op.matmul(view(h(as), ta), view(h(bs), tb));
    assert.equal(out.dtype, "f16");
    return [out];
  });
  const e = ref.matmul(a, b);
  assertClose(y, e, { atol: 1e-2 * rms(e.data) }, `f16 ${m}x${k}x${n} ta ${ta} tb ${tb}`);
}

test("f16: matmul with f16 operands vs f32 at 512x1024x256, every transposition", async (rng) => {
  for (const ta of [false, true]) {
    for (const tb of [false, true]) await checkMatmul(rng, 512, 1024, 256, ta, tb);
  }
}, { ignore });

test("f16: matmul at 37x53x19 with every variant; mixed f16 x f32 gives f32", async (rng) => {
  for (const v of op.VARIANTS) {
    op.setMatmulVariant(v);
    try {
      await checkMatmul(rng, 37, 53, 19, false, true);
      await checkMatmul(rng, 36, 64, 20, true, false);
    } finally {
      op.setMatmulVariant(null);
    }
  }
  const a = rng.randn([37, 53]), b = rng.randn([53, 19]);
  const [y] = await run(() => {
    const out = op.matmul(h(a), up(b));
    assert.equal(out.dtype, "f32");
    return [out];
  });
  // Only A was rounded to f16: 2^-11 relative per term, f32 output.
  assertClose(y, ref.matmul(f16round(a), b), { atol: 1e-4 * rms(y) }, "f16 x f32");
}, { ignore });

// Softmax, layer norm and GELU: same f16-representable inputs through the f16 and f32
// kernels. Statistics are kept in f32 either way, so they differ by the f16 output
// rounding: 2^-11 relative, plus the f16 subnormal spacing near 0.
const ROW_TOL = { atol: 1e-6, rtol: 1e-3 };

test("f16: softmax, layer norm and GELU on f16 tensors vs f32", async (rng) => {
  const x = f16round(rng.randn([64, 1024], 2)), m = ref.nd(new Float64Array(1024), [1024]);
  for (let j = 0; j < 1024; j += 3) m.data[j] = -1e4; // a mask in f16 range
  const g = f16round(rng.randn([1024])), b = f16round(rng.randn([1024]));
  const [s16, s32, l16, l32, lh, g16, g32] = await run(() => [
    op.softmax(h(x), h(m)),
    op.softmax(up(x), up(m)),
    op.layerNorm(h(x), up(g), up(b)),
    op.layerNorm(up(x), up(g), up(b)),
    op.layerNorm(h(x), h(g), h(b)),
    op.gelu(h(x)),
    op.gelu(up(x)),
  ]);
  assertClose(s16, s32, ROW_TOL, "softmax");
  assertClose(l16, l32, { atol: 1e-4, rtol: 1e-3 }, "layer norm, f32 gamma/beta");
  assertClose(lh, l32, { atol: 1e-4, rtol: 1e-3 }, "layer norm, f16 gamma/beta");
  assertClose(g16, g32, { atol: 1e-6, rtol: 1e-3 }, "gelu");
}, { ignore });

test("f16: reductions and broadcasting on f16 tensors", async (rng) => {
  const x = f16round(rng.randn([32, 100])), y = f16round(rng.randn([100]));
  const [s, a] = await run(() => [op.sum(h(x), 1), op.add(h(x), h(y))]);
  // Sum accumulates in f32 and rounds once to f16.
  assertClose(s, ref.reduce(x, 1, "sum"), { atol: 1e-5, rtol: 2 ** -11 }, "sum");
  assertClose(a, ref.add(x, y), { atol: 0, rtol: 2 ** -11 }, "add");
}, { ignore });

test("f16: gradients through f16 layer norm and softmax vs the f32 path", async (rng) => {
  const x = f16round(rng.randn([8, 64])), gm = f16round(rng.randn([64])), r = rng.randn([8, 64]);
  const grads = async (half: boolean) =>
    await run(() => {
      const xt = up(x), gt = up(gm);
      xt.requiresGrad = gt.requiresGrad = true;
      const xin = half ? op.cast(xt, "f16") : xt;
      const y = op.softmax(op.layerNorm(xin, gt, op.zeros([64])));
      op.backward(op.sumAll(op.mul(half ? op.cast(y, "f32") : y, up(r))));
      const out = [op.keep(xt.grad!), op.keep(gt.grad!)];
      xt.grad = gt.grad = null;
      return out;
    });
  const [dx16, dg16] = await grads(true), [dx32, dg32] = await grads(false);
  // Several f16 roundings (saved outputs, upstream gradients) of the largest terms, which the
  // layer-norm backward then cancels: about ten f16 ulps of the largest gradient (measured
  // worst over 40 seeds: 1.7e-3).
  const maxAbs = (v: Float64Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  assertClose(dx16, dx32, { atol: 5e-3 * maxAbs(dx32) }, "dx");
  assertClose(dg16, dg32, { atol: 5e-3 * maxAbs(dg32) }, "dgamma");
}, { ignore });

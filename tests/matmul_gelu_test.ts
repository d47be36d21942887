// linearGelu: the exact GELU (and the bias) in the product's epilogue, which also keeps the
// pre-activation for backward. Against a float64 reference and against the composite
// gelu(linear(...)), forward and gradients, every kernel variant and split-K, f32 and f16.
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, f16round, hasF16, rms, run, test, up } from "./setup.ts";

const refLinearGelu = (x: Nd, w: Nd, b: Nd | null) => ref.map1(ref.linear(x, w, b), ref.geluScalar);

/** f32 products (as in matmul_test.ts) plus the erf approximation's 1.5e-7. */
function tol(x: Nd, w: Nd) {
  const mean = (t: Nd) => t.data.reduce((s, v) => s + Math.abs(v), 0) / t.data.length;
  return { atol: 2e-6 * x.shape[x.shape.length - 1] * mean(x) * mean(w) + 2e-7, rtol: 0 };
}

/** Runs fn with the fused epilogue on and off: [fused, composite]. */
async function bothPaths<T>(fn: () => Promise<T>): Promise<[T, T]> {
  const fused = await fn();
  op.setGeluEpilogue(false);
  try {
    return [fused, await fn()];
  } finally {
    op.setGeluEpilogue(true);
  }
}

test("linearGelu: fac FFN shape [32,29,64] -> 128 and odd [37,53] -> 19, vs reference and composite", async (rng) => {
  for (const [lead, k, n] of [[[32, 29], 64, 128], [[37], 53, 19]] as const) {
    const x = rng.randn([...lead, k]), w = rng.randn([n, k], 0.2), b = rng.randn([n]);
    const [fused, composite] = await bothPaths(() =>
      run(() => [op.linearGelu(up(x), up(w), up(b)), op.linearGelu(up(x), up(w))])
    );
    const e = [refLinearGelu(x, w, b), refLinearGelu(x, w, null)];
    for (const i of [0, 1]) {
      assertClose(fused[i], e[i], tol(x, w), `fused ${n}, bias ${i === 0}`);
      assertClose(fused[i], composite[i], tol(x, w), `fused vs composite ${n}`);
    }
  }
});

const dgelu = (v: number) =>
  0.5 * (1 + ref.erf(v / Math.SQRT2)) + v * Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);

// With x requiring grad the kernels also write the pre-activation, which dx checks.
test("linearGelu: every kernel variant, and split-K (the epilogue in the sum pass)", async (rng) => {
  const x = rng.randn([36, 200]), w = rng.randn([20, 200], 0.2), b = rng.randn([20]);
  const x2 = rng.randn([37, 53]), w2 = rng.randn([19, 53], 0.2);
  const e = refLinearGelu(x, w, b), e2 = refLinearGelu(x2, w2, null);
  const dx = ref.matmul(ref.map1(ref.linear(x, w, b), dgelu), w);
  for (const v of op.VARIANTS) {
    for (const s of v.kind === "reg" ? [null, 3] : [null]) {
      op.setMatmulVariant(v);
      op.setSplitK(s);
      try {
        const [y, y2, g] = await run(() => {
          const xt = up(x);
          xt.requiresGrad = true;
          const out = op.linearGelu(xt, up(w), up(b));
          op.backward(out, op.ones(out.shape));
          return [out, op.linearGelu(up(x2), up(w2)), op.keep(xt.grad!)];
        });
        assertClose(y, e, tol(x, w), `${v.name}, splits ${s}`);
        assertClose(y2, e2, tol(x2, w2), `${v.name}, splits ${s}, no pre-activation kept`);
        assertClose(g, dx, { atol: 5e-6, rtol: 0 }, `${v.name}, splits ${s}, dx`);
      } finally {
        op.setMatmulVariant(null);
        op.setSplitK(null);
      }
    }
  }
});

test("linearGelu: K past the loop cap goes through split-K, K = 70,001", async (rng) => {
  const x = rng.randn([4, 70001]), w = rng.randn([8, 70001], 0.01), b = rng.randn([8]);
  const [y] = await run(() => [op.linearGelu(up(x), up(w), up(b))]);
  assertClose(y, refLinearGelu(x, w, b), tol(x, w), "K = 70,001");
});

test("linearGelu: gradients vs finite differences, with and without bias, 2-D and 3-D", async (rng) => {
  await gradcheck({
    inputs: [rng.randn([2, 3, 4]), rng.randn([8, 4]), rng.randn([8])],
    gpu: (x, w, b) => op.linearGelu(x, w, b),
    ref: (x, w, b) => refLinearGelu(x, w, b),
    rng,
  });
  await gradcheck({
    inputs: [rng.randn([3, 4]), rng.randn([5, 4])],
    gpu: (x, w) => op.linearGelu(x, w),
    ref: (x, w) => refLinearGelu(x, w, null),
    rng,
  });
});

/** Gradients of sum(linearGelu(x, W, b) * r) with respect to x, W and b. */
function grads(x: Nd, w: Nd, b: Nd, r: Nd, cast: (t: Tensor) => Tensor = (t) => t) {
  return run(() => {
    const ts = [up(x), up(w), up(b)];
    for (const t of ts) t.requiresGrad = true;
    const y = op.linearGelu(cast(ts[0]), cast(ts[1]), cast(ts[2]));
    op.backward(op.sumAll(op.mul(op.cast(y, "f32"), up(r))));
    const gs = ts.map((t) => t.grad!);
    for (const t of ts) t.grad = null;
    return [op.cast(y, "f32"), ...gs].map(op.keep);
  });
}

test("linearGelu: backward at [930,64] -> 128 equals the composite's", async (rng) => {
  const x = rng.randn([930, 64]), w = rng.randn([128, 64], 0.2), b = rng.randn([128]);
  const r = rng.randn([930, 128]);
  const [fused, composite] = await bothPaths(() => grads(x, w, b, r));
  // The same gelu_grad map on the same pre-activations feeds the same products.
  const names = ["y", "dx", "dW", "db"];
  for (const i of [0, 1, 2, 3]) {
    assertClose(fused[i], composite[i], { atol: 1e-5 * rms(composite[i]) }, names[i]);
  }
});

test("linearGelu: f16 operands, forward and gradients vs the composite and f32", async (rng) => {
  const x = f16round(rng.randn([3, 31, 64])), w = f16round(rng.randn([128, 64], 0.2));
  const b = f16round(rng.randn([128])), r = rng.randn([3, 31, 128]);
  const f16 = (t: Tensor) => op.cast(t, "f16");
  const [fused, composite] = await bothPaths(() => grads(x, w, b, r, f16));
  const [exact] = await run(() => [op.linearGelu(up(x), up(w), up(b))]);
  // f16 output rounding (2^-11 relative) on top of f32 accumulation.
  assertClose(fused[0], exact, { atol: 2e-3 * rms(exact) }, "f16 forward vs f32");
  const names = ["y", "dx", "dW", "db"];
  for (const i of [0, 1, 2, 3]) {
    // Rounding v or gelu(v) to f16 may differ by an ulp (2^-10 relative) between the paths.
    const t = { atol: 2e-3 * rms(composite[i]), rtol: 2e-3 };
    assertClose(fused[i], composite[i], t, `f16 ${names[i]}`);
  }
}, { ignore: !hasF16 });

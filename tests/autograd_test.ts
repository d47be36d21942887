// The autograd tape: accumulation across backward calls, noGrad, shared subexpressions
// (both contributions reach the input), which tensors get .grad, and error cases.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, run, test, up } from "./setup.ts";

/** A leaf that requires a gradient. */
function leaf(x: ref.Nd): Tensor {
  const t = up(x);
  t.requiresGrad = true;
  return t;
}

/** Moves a leaf's gradient out (so the caller's scope can return and dispose it). */
function takeGrad(t: Tensor): Tensor {
  const g = t.grad;
  if (!g) throw new Error("no gradient");
  t.grad = null;
  return op.keep(g);
}

test("autograd: gradients accumulate across two backward calls", async (rng) => {
  const x = rng.randn([2, 3]), r1 = rng.randn([2, 3]), r2 = rng.randn([2, 3]);
  const [g] = await run(() => {
    const xt = leaf(x);
    op.backward(op.mul(xt, up(r1)), op.ones([2, 3]));
    op.backward(op.sumAll(op.mul(op.exp(xt), up(r2))));
    return [takeGrad(xt)];
  });
  const e = x.data.map((v, i) => r1.data[i] + Math.exp(v) * r2.data[i]);
  assertClose(g, e, { atol: 1e-6, rtol: 1e-6 }, "accumulated gradient");
});

test("autograd: noGrad records nothing", () => {
  op.tidy(() => {
    const xt = leaf(ref.nd([1, 2], [2]));
    const y = op.noGrad(() => {
      assert.equal(op.gradEnabled(), false);
      return op.mul(op.exp(xt), xt);
    });
    assert.equal(op.gradEnabled(), true);
    assert.equal(y.node, null);
    assert.equal(y.requiresGrad, false);
    assert.throws(() => op.backward(op.sumAll(y)), /does not require grad/);
    const z = op.mul(xt, xt);
    assert.ok(z.node !== null && z.requiresGrad, "recording resumes after noGrad");
  });
});

test("autograd: a tensor used twice (x * x) gets both contributions", async (rng) => {
  const x = rng.randn([5]);
  const [g] = await run(() => {
    const xt = leaf(x);
    op.backward(op.sumAll(op.mul(xt, xt)));
    return [takeGrad(xt)];
  });
  assertClose(g, ref.map1(x, (v) => 2 * v), { atol: 1e-6, rtol: 1e-6 }, "d(x*x)/dx");
  // A diamond: y = exp(x) feeds both factors and a sum.
  await gradcheck({
    inputs: [rng.randn([2, 3])],
    gpu: (t) => {
      const y = op.exp(t);
      return op.add(op.mul(y, op.tanh(y)), op.sum(y, 1, true));
    },
    ref: (t) => {
      const y = ref.map1(t, Math.exp);
      return ref.add(ref.mul(y, ref.map1(y, Math.tanh)), ref.reduce(y, 1, "sum", true));
    },
    rng,
  });
});

test("autograd: only leaves that require grad get .grad; constants get none", () => {
  op.tidy(() => {
    const a = leaf(ref.nd([1, 2, 3], [3])), c = up(ref.nd([4, 5, 6], [3]));
    const mid = op.mul(a, c);
    op.backward(op.sumAll(op.exp(mid)));
    assert.equal(mid.grad, null, "intermediate");
    assert.equal(c.grad, null, "constant");
    assert.ok(a.grad, "leaf");
    a.grad.dispose();
    a.grad = null;
  });
});

test("autograd: a 300-op chain backpropagates", async (rng) => {
  const x = rng.randn([4]);
  const [g] = await run(() => {
    const xt = leaf(x);
    let y = xt;
    for (let i = 0; i < 300; i++) y = op.mulScalar(op.addScalar(y, 0.001), 1.001);
    op.backward(op.sumAll(y));
    return [takeGrad(xt)];
  });
  // The scale is f32(1.001); 300 f32 products round at most 300 times (rtol 2e-5).
  assertClose(g, new Array(4).fill(Math.fround(1.001) ** 300), { atol: 0, rtol: 2e-5 }, "chain");
});

test("autograd: backward needs a scalar or an explicit gradient", () => {
  op.tidy(() => {
    const y = op.exp(leaf(ref.nd([1, 2], [2])));
    assert.throws(() => op.backward(y), /needs a gradient/);
  });
});

test("autograd: backward works with only autograd.ts and the ops loaded (no mod.ts)", async () => {
  // A child process: this file has loaded mod.ts already. x is used twice, so the engine
  // both sums two gradients and seeds the scalar root's gradient itself.
  const script = `
    import { initGpu } from "./src/gpu/device.ts";
    import { backward } from "./src/tensor/autograd.ts";
    import { mul } from "./src/tensor/ops/elementwise.ts";
    import { sumAll } from "./src/tensor/ops/reduce.ts";
    import { Tensor } from "./src/tensor/tensor.ts";
    await initGpu();
    const x = Tensor.from([1, -2, 3], [3]);
    x.requiresGrad = true;
    backward(sumAll(mul(x, x)));
    console.log([...await x.grad!.data()].join(" "));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  assert.equal(stdout, "2 -4 6", new TextDecoder().decode(out.stderr));
});

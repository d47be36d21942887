// Elementwise ops: forward vs the float64 reference (tiny and realistic shapes, broadcasting,
// strided inputs, extreme arguments) and gradients by finite differences.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, f16round, type Rng, run, test, type Tol, up } from "./setup.ts";

interface Unary {
  name: string;
  gpu: (x: Tensor) => Tensor;
  f: (v: number) => number;
  /** Inputs in the op's domain, away from kinks. */
  input: (rng: Rng, shape: number[]) => Nd;
  /** Forward tolerance: WGSL allows exp/log/pow a few ulp (3 + 2|x| for exp), so 2e-6. */
  tol: Tol;
}

const exact: Tol = { atol: 0, rtol: 1e-7 }; // one f32 rounding
const transcendental: Tol = { atol: 1e-7, rtol: 2e-6 };
type Input = Unary["input"];
const normal = (scale = 1): Input => (r, s) => r.randn(s, scale);
const uniform = (lo: number, hi: number): Input => (r, s) => r.rand(s, lo, hi);
const away = (lo: number, hi: number): Input => (r, s) => r.awayFromZero(s, lo, hi);
const u = (
  name: string,
  gpu: Unary["gpu"],
  f: Unary["f"],
  input: Input,
  tol = transcendental,
): Unary => ({ name, gpu, f, input, tol });

const UNARY: Unary[] = [
  u("neg", op.neg, (v) => -v, normal(), exact),
  u("exp", op.exp, Math.exp, uniform(-5, 5)),
  // WGSL's log is only 2^-21 absolute inside [0.5, 2] (near its zero at 1).
  u("log", op.log, Math.log, uniform(0.1, 10), { atol: 5e-7, rtol: 2e-6 }),
  u("sqrt", op.sqrt, Math.sqrt, uniform(0.1, 10)),
  u("rsqrt", op.rsqrt, (v) => 1 / Math.sqrt(v), uniform(0.1, 10)),
  u("tanh", op.tanh, Math.tanh, normal(2)),
  // A&S 7.1.26 erf is good to 1.5e-7 absolute, so GELU to ~0.5|x| * 1.5e-7 (|x| < 10).
  u("gelu", op.gelu, ref.geluScalar, normal(2), { atol: 1e-6, rtol: 2e-6 }),
  u("sigmoid", op.sigmoid, ref.sigmoidScalar, normal(3)),
  u("relu", op.relu, (v) => Math.max(v, 0), away(0.01, 3), exact),
  u("pow 3", (x) => op.pow(x, 3), (v) => v ** 3, away(0.2, 2)),
  u("pow 2", (x) => op.pow(x, 2), (v) => v * v, away(0.2, 2)),
  u("pow 2.5", (x) => op.pow(x, 2.5), (v) => v ** 2.5, uniform(0.2, 3)),
  u("pow -1.5", (x) => op.pow(x, -1.5), (v) => v ** -1.5, uniform(0.2, 3)),
  u("addScalar", (x) => op.addScalar(x, 0.75), (v) => v + 0.75, normal(), {
    atol: 1e-7,
    rtol: 1e-7,
  }),
  u("mulScalar", (x) => op.mulScalar(x, -1.5), (v) => v * -1.5, normal(), exact),
];

for (const un of UNARY) {
  test(`elementwise: ${un.name} forward, tiny and [64,1024]`, async (rng) => {
    for (const shape of [[5], [64, 1024]]) {
      const x = un.input(rng, shape);
      const [y] = await run(() => [un.gpu(up(x))]);
      assertClose(y, ref.map1(x, un.f), un.tol, `${un.name} [${shape}]`);
    }
  });
  test(`elementwise: ${un.name} gradient`, async (rng) => {
    await gradcheck({
      inputs: [un.input(rng, [2, 3])],
      gpu: un.gpu,
      ref: (x) => ref.map1(x, un.f),
      rng,
      what: un.name,
    });
  });
}

test("elementwise: gelu's erf is good to about A&S 7.1.26's 1.5e-7 on [-1, 1]", async (rng) => {
  // erf error: 1.5e-7 (A&S) + ~2e-7 (f32 evaluation of its polynomial and exp), scaled by
  // |x|/2 <= 1/2, plus half an f32 ulp of the output: 2.5e-7. An erf 1e-6 off fails.
  const x = rng.rand([4096], -1, 1);
  const [y, dy] = await run(() => {
    const xt = up(x);
    xt.requiresGrad = true;
    const y = op.gelu(xt);
    op.backward(y, op.ones([4096]));
    const d = op.keep(xt.grad!);
    xt.grad = null;
    return [y, d];
  });
  assertClose(y, ref.map1(x, ref.geluScalar), { atol: 2.5e-7 }, "gelu on [-1, 1]");
  // gelu'(x) = Phi(x) + x phi(x): erf enters with weight 1/2, so 0.75e-7 (A&S) + 1.5e-7 (the
  // f32 polynomial and exp, now at weight 1/2 but with no |x| factor) + x phi(x) in f32
  // (~5e-8) + half an ulp of the output (3e-8): 4e-7 (seen: 3.0e-7). An erf 1e-6 off fails.
  const dgelu = (v: number) =>
    0.5 * (1 + ref.erf(v / Math.SQRT2)) + v * Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);
  assertClose(dy, ref.map1(x, dgelu), { atol: 4e-7 }, "gelu' on [-1, 1]");
});

test("elementwise: extreme arguments give finite limits, not NaN", async () => {
  const x = ref.nd([-1e4, -100, -30, 0, 30, 100, 1e4], [7]);
  const [t, s, g, r] = await run(() => {
    const xt = up(x);
    return [op.tanh(xt), op.sigmoid(xt), op.gelu(xt), op.relu(xt)];
  });
  assertClose(t, ref.map1(x, Math.tanh), { atol: 1e-7 }, "tanh");
  assertClose(s, ref.map1(x, ref.sigmoidScalar), { atol: 1e-7 }, "sigmoid");
  assertClose(g, ref.map1(x, ref.geluScalar), { atol: 1e-7, rtol: 1e-6 }, "gelu");
  assertClose(r, ref.map1(x, (v) => Math.max(v, 0)), exact, "relu");
});

test("elementwise: pow at zero and negative bases", async () => {
  const x = ref.nd([-2, -0.5, 0, 0.5, 2], [5]);
  const [p3, p2, p0, half] = await run(() => {
    const xt = up(x);
    return [op.pow(xt, 3), op.pow(xt, 2), op.pow(xt, 0), op.pow(xt, 0.5)];
  });
  assertClose(p3, [-8, -0.125, 0, 0.125, 8], { atol: 0, rtol: 1e-6 }, "x^3");
  assertClose(p2, [4, 0.25, 0, 0.25, 4], { atol: 0, rtol: 1e-6 }, "x^2");
  assertClose(p0, [1, 1, 1, 1, 1], exact, "x^0");
  // Non-integer powers of negative numbers are NaN, as in torch.
  assert.ok(Number.isNaN(half[0]) && Number.isNaN(half[1]));
  assertClose(half.slice(2), [0, Math.SQRT1_2, Math.SQRT2], { atol: 0, rtol: 1e-6 }, "x^0.5");
});

// Broadcast pairs: size-1 axes, missing leading axes, scalars, both sides broadcasting.
const PAIRS: [number[], number[]][] = [
  [[3, 1, 4], [2, 4]],
  [[2, 3, 4], [4]],
  [[1], [5, 6]],
  [[4, 1], [1, 5]],
  [[2, 3], [2, 3]],
];
const BINARY = [
  { name: "add", gpu: op.add, ref: ref.add },
  { name: "sub", gpu: op.sub, ref: ref.sub },
  { name: "mul", gpu: op.mul, ref: ref.mul },
  { name: "div", gpu: op.div, ref: ref.div },
];
const denominators = (rng: Rng, s: number[]) => rng.awayFromZero(s, 0.5, 2);

for (const b of BINARY) {
  test(`elementwise: ${b.name} forward with broadcasting`, async (rng) => {
    for (const [sa, sb] of [...PAIRS, [[64, 1024], [1024]], [[1024, 1], [1, 64]]]) {
      const x = rng.randn(sa), y = b.name === "div" ? denominators(rng, sb) : rng.randn(sb);
      const [z] = await run(() => [b.gpu(up(x), up(y))]);
      assertClose(z, b.ref(x, y), { atol: 0, rtol: 1e-7 }, `${b.name} [${sa}] [${sb}]`);
    }
  });
  test(`elementwise: ${b.name} gradient with broadcasting`, async (rng) => {
    for (const [sa, sb] of PAIRS) {
      const x = rng.randn(sa), y = b.name === "div" ? denominators(rng, sb) : rng.randn(sb);
      await gradcheck({
        inputs: [x, y],
        gpu: b.gpu,
        ref: b.ref,
        rng,
        what: `${b.name} [${sa}] [${sb}]`,
      });
    }
  });
}

test("elementwise: strided (transposed, sliced) operands", async (rng) => {
  const x = rng.randn([6, 5]), y = rng.randn([5, 6]);
  const [z] = await run(
    () => [op.mul(op.slice(up(x), 0, 1, 5), op.transpose(op.slice(up(y), 1, 2, 6)))],
  );
  const e = ref.mul(ref.slice(x, 0, 1, 5), ref.transpose(ref.slice(y, 1, 2, 6)));
  assertClose(z, e, exact, "mul of views");
});

test("elementwise: vec4 path (dense, row-broadcast, scalar) and its fallbacks, f32 and f16", async (rng) => {
  // [a shape, b shape]: dense pairs and rows repeated along the output take the vec4 kernel;
  // sizes not divisible by 4, other broadcasts and unaligned offsets fall back to the strided one.
  const cases: [number[], number[]][] = [
    [[64, 1024], [64, 1024]],
    [[64, 1024], [1024]],
    [[1024], [64, 1024]],
    [[4, 6, 8], [1, 6, 8]],
    [[64, 1024], [1]],
    [[1], [3, 4]],
    [[2, 4, 1, 8], [2, 1, 3, 8]],
    [[7, 5], [7, 5]],
    [[6, 4], [6, 1]],
  ];
  for (const [as, bs] of cases) {
    const a = rng.randn(as), b = rng.randn(bs);
    for (const variant of ["vec4", "scalar"] as const) {
      op.setElementVariant(variant);
      try {
        const [s, d, h] = await run(() => {
          const at = up(a), bt = up(b);
          return [
            op.add(at, bt),
            op.div(at, op.mulScalar(bt, 0.5)),
            op.cast(op.mul(op.cast(at, "f16"), op.cast(bt, "f16")), "f32"),
          ];
        });
        const what = `[${as}] with [${bs}], ${variant}`;
        assertClose(s, ref.add(a, b), exact, `add ${what}`);
        assertClose(d, ref.div(a, ref.map1(b, (v) => v * 0.5)), exact, `div ${what}`);
        assertClose(h, f16round(ref.mul(f16round(a), f16round(b))), exact, `f16 mul ${what}`);
      } finally {
        op.setElementVariant(null);
      }
    }
  }
  // Views: an offset of 3 elements, and one of 4 (a slice of whole rows).
  const x = rng.randn([1027]), y = rng.randn([9, 4]);
  const [o3, o4] = await run(() => [
    op.neg(op.slice(up(x), 0, 3, 1027)),
    op.add(op.slice(up(y), 0, 1, 9), op.slice(up(y), 0, 0, 8)),
  ]);
  assertClose(o3, ref.map1(ref.slice(x, 0, 3, 1027), (v) => -v), exact, "offset 3");
  assertClose(o4, ref.add(ref.slice(y, 0, 1, 9), ref.slice(y, 0, 0, 8)), exact, "offset 4");
});

test("elementwise: a tensor added to itself gets both gradient contributions", async (rng) => {
  await gradcheck({
    inputs: [rng.randn([2, 3])],
    gpu: (x) => op.add(x, x),
    ref: (x) => ref.add(x, x),
    rng,
  });
  await gradcheck({
    inputs: [rng.randn([2, 3])],
    gpu: (x) => op.div(x, op.exp(x)),
    ref: (x) => ref.div(x, ref.map1(x, Math.exp)),
    rng,
  });
});

test("elementwise: mapRaw with a custom expression and scalar", async (rng) => {
  const x = rng.randn([7, 3]), y = rng.randn([3]);
  const [z] = await run(() => [op.mapRaw("axpy", "a * c + b", up(x), up(y), 2.5)]);
  // a * 2.5 + b can cancel: the error is the f32 rounding of terms up to ~12 (half an ulp:
  // 4.8e-7), not relative to the result.
  assertClose(z, ref.map2(x, y, (a, b) => a * 2.5 + b), { atol: 1e-6, rtol: 1e-7 }, "map");
});

test("elementwise: full, zeros, ones, cast i32 -> f32", async (rng) => {
  const ids = rng.ints(9, -1000, 1000), ids12 = rng.ints(12, -1000, 1000);
  const [f, z, o, c, c12] = await run(() => [
    op.full([3, 5], -2.25),
    op.zeros([300]),
    op.ones([2, 2, 2]),
    op.cast(op.Tensor.from(ids, [9], "i32"), "f32"),
    op.cast(op.Tensor.from(ids12, [3, 4], "i32"), "f32"), // the vec4 path
  ]);
  assertClose(f, new Array(15).fill(-2.25), exact, "full");
  assertClose(z, new Array(300).fill(0), exact, "zeros");
  assertClose(o, new Array(8).fill(1), exact, "ones");
  assertClose(c, ids, exact, "cast");
  assertClose(c12, ids12, exact, "cast, vec4");
});

test("elementwise: shapes that do not broadcast are rejected", () => {
  assert.throws(() => op.tidy(() => op.add(op.zeros([2, 3]), op.zeros([4]))), /do not broadcast/);
});

// Matrix products at realistic shapes (M >= 512, K in {768, 1024, 3072, 4096}) and odd ones,
// every transposed-operand combination, batched, with bias; every kernel variant; gradients.
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import type { Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { gpu } from "../src/gpu/device.ts";
import { assertClose, type Rng, run, test, up } from "./setup.ts";

const meanAbs = (x: Nd) => x.data.reduce((s, v) => s + Math.abs(v), 0) / x.data.length;

/**
 * f32 accumulation over K terms: error per element ~ u * sqrt(K) * |partial sums|, well
 * under 2e-6 (~32 ulp) times the typical sum of |a_ik * b_kj| (= K * mean|a| * mean|b|).
 * A dropped or doubled term, or a wrong element, is ~mean|a||b|: far above this.
 */
function mmTol(a: Nd, b: Nd, k: number) {
  return { atol: 2e-6 * k * meanAbs(a) * meanAbs(b), rtol: 0 };
}

interface Case {
  batch?: number[];
  m: number;
  k: number;
  n: number;
  /** Operand stored transposed and passed as a transposed view. */
  ta?: boolean;
  tb?: boolean;
}

/** Logical operands, and a GPU builder passing them in the case's layout. */
function makeCase(rng: Rng, c: Case) {
  const bs = c.batch ?? [];
  const a = rng.randn([...bs, c.m, c.k]), b = rng.randn([...bs, c.k, c.n]);
  const store = (x: Nd, t?: boolean) => (t ? ref.transpose(x) : x);
  const as = store(a, c.ta), bs2 = store(b, c.tb);
  const view = (x: Nd, t?: boolean) => (t ? op.transpose(up(x)) : up(x));
  return { a, b, gpu: () => [view(as, c.ta), view(bs2, c.tb)] as [Tensor, Tensor] };
}

const label = (c: Case) =>
  `[${[...(c.batch ?? []), c.m, c.k]}]${c.ta ? "T" : ""} @ [${[...(c.batch ?? []), c.k, c.n]}]${
    c.tb ? "T" : ""
  }`;

const combos = [[false, false], [false, true], [true, false], [true, true]];

// One K per transposition combination keeps the suite quick while covering every K.
const REALISTIC: Case[] = [
  { m: 512, k: 768, n: 512, ta: false, tb: false },
  { m: 512, k: 1024, n: 256, ta: false, tb: true },
  { m: 512, k: 3072, n: 256, ta: true, tb: false },
  { m: 512, k: 4096, n: 256, ta: true, tb: true },
];

for (const c of REALISTIC) {
  test(`matmul: realistic ${label(c)}`, async (rng) => {
    const { a, b, gpu } = makeCase(rng, c);
    const [y] = await run(() => [op.matmul(...gpu())]);
    assertClose(y, ref.matmul(a, b), mmTol(a, b, c.k), label(c));
  });
}

test("matmul: odd sizes 37x53x19, every transposition, 2-D and batched", async (rng) => {
  for (const [ta, tb] of combos) {
    for (const batch of [[], [3]]) {
      const c = { batch, m: 37, k: 53, n: 19, ta, tb };
      const { a, b, gpu } = makeCase(rng, c);
      const [y] = await run(() => [op.matmul(...gpu())]);
      assertClose(y, ref.matmul(a, b), mmTol(a, b, c.k), label(c));
    }
  }
});

test("matmul: batched [2,512,1024] @ [2,1024,256] and shared-weight [2,256,768] @ [768,384]", async (rng) => {
  for (
    const c of [{ batch: [2], m: 512, k: 1024, n: 256 }, {
      batch: [2],
      m: 512,
      k: 1024,
      n: 256,
      ta: true,
    }]
  ) {
    const { a, b, gpu } = makeCase(rng, c);
    const [y] = await run(() => [op.matmul(...gpu())]);
    assertClose(y, ref.matmul(a, b), mmTol(a, b, c.k), label(c));
  }
  const a = rng.randn([2, 256, 768]), w = rng.randn([768, 384]);
  const [y] = await run(() => [op.matmul(up(a), up(w))]);
  assertClose(y, ref.matmul(a, w), mmTol(a, w, 768), "batched @ 2-D");
});

test("matmul: rank-4 batch and a 2-D lhs against a batched rhs", async (rng) => {
  const a = rng.randn([2, 3, 37, 20]), b = rng.randn([2, 3, 20, 11]);
  const [y] = await run(() => [op.matmul(up(a), up(b))]);
  assertClose(y, ref.matmul(a, b), mmTol(a, b, 20), "rank 4");
  const a2 = rng.randn([37, 20]), b2 = rng.randn([4, 20, 11]);
  const [y2] = await run(() => [op.matmul(up(a2), up(b2))]);
  assertClose(y2, ref.matmul(a2, b2), mmTol(a2, b2, 20), "2-D @ batched");
});

test("matmul: operands at odd offsets and row strides (sliced views)", async (rng) => {
  const big = rng.randn([40, 70]), bigB = rng.randn([61, 30]);
  const [y] = await run(() => [
    op.matmul(
      op.slice(op.slice(up(big), 0, 3, 40), 1, 5, 66),
      op.slice(op.slice(up(bigB), 0, 0, 61), 1, 1, 20),
    ),
  ]);
  const a = ref.slice(ref.slice(big, 0, 3, 40), 1, 5, 66), b = ref.slice(bigB, 1, 1, 20);
  assertClose(y, ref.matmul(a, b), mmTol(a, b, 61), "sliced operands");
});

test("matmul: matmulRaw with bias and alpha, 512x768x384 and odd", async (rng) => {
  for (
    const [m, k, n, ta] of [[512, 768, 384, false], [37, 53, 19, true], [
      37,
      53,
      19,
      false,
    ]] as const
  ) {
    const { a, b, gpu } = makeCase(rng, { m, k, n, ta });
    const bias = rng.randn([n]);
    const [y] = await run(() => [op.matmulRaw(...gpu(), up(bias), 0.5)]);
    const e = ref.add(ref.map1(ref.matmul(a, b), (v) => 0.5 * v), bias);
    assertClose(y, e, mmTol(a, b, k), `bias alpha ${m}x${k}x${n}`);
  }
});

test("matmul: linear with bias at [4,128,768] x [256,768]", async (rng) => {
  const x = rng.randn([4, 128, 768]), w = rng.randn([256, 768], 0.05), bias = rng.randn([256]);
  const [y] = await run(() => [op.linear(up(x), up(w), up(bias))]);
  assertClose(y, ref.linear(x, w, bias), mmTol(x, w, 768), "linear");
});

test("matmul: every kernel variant at 512x1024x256 and 37x53x19", async (rng) => {
  const big = [
    makeCase(rng, { m: 512, k: 1024, n: 256 }),
    makeCase(rng, { m: 512, k: 1024, n: 256, tb: true }),
  ];
  const odd = combos.map(([ta, tb]) => makeCase(rng, { batch: [2], m: 37, k: 53, n: 19, ta, tb }));
  const cases = [...big.map((c) => ({ c, k: 1024 })), ...odd.map((c) => ({ c, k: 53 }))];
  const expected = cases.map(({ c }) => ref.matmul(c.a, c.b));
  for (const v of op.VARIANTS) {
    op.setMatmulVariant(v);
    try {
      for (const [i, { c, k }] of cases.entries()) {
        const [y] = await run(() => [op.matmul(...c.gpu())]);
        assertClose(y, expected[i], mmTol(c.a, c.b, k), `variant ${v.name}, case ${i}`);
      }
    } finally {
      op.setMatmulVariant(null);
    }
  }
});

// Weight gradients contract over tokens: K = batch x sequence reaches 65,536 (128 x 512).
// llvmpipe stops shader loops after 65,535 iterations, which kernels must work around.
test("matmul: long K (weight gradients over many tokens), default variant", async (rng) => {
  for (const [k, ta] of [[65536, true], [70001, false]] as const) {
    const { a, b, gpu } = makeCase(rng, { m: 5, k, n: 6, ta });
    const [y] = await run(() => [op.matmul(...gpu())]);
    assertClose(y, ref.matmul(a, b), mmTol(a, b, k), `K = ${k}`);
  }
});

test("matmul: every kernel variant at K = 20,000", async (rng) => {
  const c = makeCase(rng, { m: 9, k: 20000, n: 7, ta: true });
  const e = ref.matmul(c.a, c.b);
  for (const v of op.VARIANTS) {
    op.setMatmulVariant(v);
    try {
      const [y] = await run(() => [op.matmul(...c.gpu())]);
      assertClose(y, e, mmTol(c.a, c.b, 20000), `variant ${v.name}`);
    } finally {
      op.setMatmulVariant(null);
    }
  }
});

// Split-K runs K's slices side by side (the batch grid) into f32 partial products and sums
// them in a second pass: every slice count, an uneven last slice, bias and alpha.
test("matmul: split-K at [64x5000]^T @ [5000x64], every slice count, with bias and alpha", async (rng) => {
  const c = makeCase(rng, { m: 64, k: 5000, n: 64, ta: true });
  const bias = rng.randn([64]);
  const e = ref.matmul(c.a, c.b);
  const eb = ref.add(ref.map1(e, (v) => 0.5 * v), bias);
  if (gpu().isSoftware) assert.ok(op.matmulPlan(64, 64, 5000).splits > 1, "the plan splits K");
  for (const s of [1, 2, 3, 4, 7, 16]) {
    op.setSplitK(s);
    try {
      const [y, yb] = await run(
        () => [op.matmul(...c.gpu()), op.matmulRaw(...c.gpu(), up(bias), 0.5)],
      );
      assertClose(y, e, mmTol(c.a, c.b, 5000), `${s} slices`);
      assertClose(yb, eb, mmTol(c.a, c.b, 5000), `${s} slices, bias and alpha`);
    } finally {
      op.setSplitK(null);
    }
  }
  // K % 4 != 0 (the scalar kernel) and every register-blocked variant.
  const odd = makeCase(rng, { m: 36, k: 2001, n: 8, ta: true });
  for (const v of op.VARIANTS.filter((v) => v.kind === "reg")) {
    op.setMatmulVariant(v);
    op.setSplitK(3);
    try {
      const [y] = await run(() => [op.matmul(...odd.gpu())]);
      assertClose(y, ref.matmul(odd.a, odd.b), mmTol(odd.a, odd.b, 2001), `K = 2001, ${v.name}`);
    } finally {
      op.setMatmulVariant(null);
      op.setSplitK(null);
    }
  }
});

// Slices longer than the loop cap allows are cut further: 2 slices asked, 3 run (the scalar
// kernel's slices stop at 65,532 values of K).
test("matmul: split-K where the loop cap also splits, K = 140,001", async (rng) => {
  const c = makeCase(rng, { m: 12, k: 140001, n: 8, ta: true });
  const e = ref.matmul(c.a, c.b);
  for (const s of [2, null]) {
    op.setSplitK(s);
    try {
      const [y] = await run(() => [op.matmul(...c.gpu())]);
      assertClose(y, e, mmTol(c.a, c.b, 140001), `slices ${s ?? "planned"}`);
    } finally {
      op.setSplitK(null);
    }
  }
});

// The fac training step's products (~930 token rows; hidden 64, FFN 128): forward
// x @ W^T, dx = g @ W, and the weight gradients g^T x contracting over the tokens.
const FAC_SHAPES: (Case & { plan: string })[] = [
  { m: 930, k: 64, n: 64, tb: true, plan: "reg32x32/1" },
  { m: 930, k: 64, n: 128, tb: true, plan: "reg32x32/1" },
  { m: 930, k: 128, n: 64, plan: "reg32x32/1" },
  { m: 64, k: 930, n: 64, ta: true, plan: "reg32x32/2" },
  { m: 128, k: 930, n: 64, ta: true, plan: "reg32x32/2" },
  { m: 64, k: 930, n: 128, ta: true, plan: "reg32x32/2" },
];

test("matmul: the fac step's small products, the planned variants", async (rng) => {
  for (const c of FAC_SHAPES) {
    const p = op.matmulPlan(c.m, c.n, c.k);
    if (gpu().isSoftware) assert.equal(`${p.variant.name}/${p.splits}`, c.plan, label(c));
    const { a, b, gpu: g } = makeCase(rng, c);
    const [y] = await run(() => [op.matmul(...g())]);
    assertClose(y, ref.matmul(a, b), mmTol(a, b, c.k), label(c));
  }
});

test("matmul: linear backward at [512,768] -> 256 vs reference products", async (rng) => {
  const x = rng.randn([512, 768]), w = rng.randn([256, 768], 0.05), g = rng.randn([512, 256]);
  const [dx, dw, db] = await run(() => {
    const xt = up(x), wt = up(w), bt = op.zeros([256]);
    for (const t of [xt, wt, bt]) t.requiresGrad = true;
    op.backward(op.linear(xt, wt, bt), up(g));
    const grads = [xt.grad!, wt.grad!, bt.grad!];
    for (const t of [xt, wt, bt]) t.grad = null;
    return grads.map(op.keep);
  });
  assertClose(dx, ref.matmul(g, w), mmTol(g, w, 256), "dx = g W");
  assertClose(dw, ref.matmul(ref.transpose(g), x), mmTol(g, x, 512), "dW = g^T x");
  assertClose(db, ref.reduce(g, 0, "sum"), mmTol(g, g, 512), "db = sum g");
});

test("matmul: gradients, 2-D, batched, shared and broadcast operands, transposed views", async (rng) => {
  const mm = (a: Tensor, b: Tensor) => op.matmul(a, b);
  await gradcheck({
    inputs: [rng.randn([3, 4]), rng.randn([4, 2])],
    gpu: mm,
    ref: ref.matmul,
    rng,
    what: "2-D",
  });
  await gradcheck({
    inputs: [rng.randn([2, 3, 4]), rng.randn([2, 4, 2])],
    gpu: mm,
    ref: ref.matmul,
    rng,
    what: "batched",
  });
  await gradcheck({
    inputs: [rng.randn([2, 3, 4]), rng.randn([4, 5])],
    gpu: mm,
    ref: ref.matmul,
    rng,
    what: "shared rhs",
  });
  await gradcheck({
    inputs: [rng.randn([3, 4]), rng.randn([2, 4, 5])],
    gpu: mm,
    ref: ref.matmul,
    rng,
    what: "shared lhs",
  });
  await gradcheck({
    inputs: [rng.randn([4, 3]), rng.randn([2, 4])],
    gpu: (a, b) => op.matmul(op.transpose(a), op.transpose(b)),
    ref: (a, b) => ref.matmul(ref.transpose(a), ref.transpose(b)),
    rng,
    what: "transposed views",
  });
});

test("matmul: linear gradients, with and without bias, 2-D and 3-D input", async (rng) => {
  await gradcheck({
    inputs: [rng.randn([2, 3, 4]), rng.randn([5, 4]), rng.randn([5])],
    gpu: (x, w, b) => op.linear(x, w, b),
    ref: (x, w, b) => ref.linear(x, w, b),
    rng,
  });
  await gradcheck({
    inputs: [rng.randn([3, 4]), rng.randn([2, 4])],
    gpu: (x, w) => op.linear(x, w),
    ref: (x, w) => ref.linear(x, w, null),
    rng,
  });
});

test("matmul: mismatched shapes are rejected", () => {
  op.tidy(() => {
    assert.throws(() => op.matmul(op.zeros([2, 3]), op.zeros([4, 5])), /inner sizes differ/);
    assert.throws(() => op.matmul(op.zeros([2, 2, 3]), op.zeros([3, 3, 5])), /batch shapes/);
    assert.throws(() => op.matmulRaw(op.zeros([2, 3]), op.zeros([3, 5]), op.zeros([4])), /bias/);
  });
});

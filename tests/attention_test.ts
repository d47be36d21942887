// Multi-head attention (ops/attention.ts): the fused kernels and the composite against a
// float64 reference with an analytic backward, with and without a padding mask and with
// dropout (the mask recomputed here from the dropout kernel's hash, so both paths must draw
// exactly the dropout op's masks); f16 inputs; Q, K, V read in place from one [b, s, 3h]
// tensor; shapes tiny (FD gradcheck), odd (29, 37) and roberta-base-like (12 heads of 64).
import assert from "node:assert/strict";
import * as op from "../src/tensor/mod.ts";
import { DropoutRng, type Tensor } from "../src/tensor/mod.ts";
import * as ref from "./reference.ts";
import type { Nd } from "./reference.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, f16round, hasF16, type Rng, run, test, up } from "./setup.ts";

const MODES = ["fused", "composite"] as const;

async function forEachMode(fn: (mode: op.AttentionMode) => Promise<void>): Promise<void> {
  for (const mode of MODES) {
    op.setAttentionMode(mode);
    try {
      await fn(mode);
    } catch (e) {
      if (e instanceof Error) e.message = `[attention ${mode}] ${e.message}`;
      throw e;
    } finally {
      op.setAttentionMode(null);
    }
  }
}

/** The dropout kernel's PCG (shaders/dropout.wgsl), in JavaScript. */
function pcg(v: number): number {
  const s = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** Per element of [b, heads, s, s]: 0 where dropout call (seed, counter) drops, else 1/(1-p). */
function dropMultiplier(n: number, p: number, seed: number, counter: number): Float64Array {
  const base = pcg((pcg(seed) ^ counter) >>> 0),
    thr = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  return Float64Array.from(
    { length: n },
    (_, i) => (pcg((base ^ i) >>> 0) >= thr ? 1 / (1 - p) : 0),
  );
}

interface RefOut {
  out: Nd;
  dq: Nd;
  dk: Nd;
  dv: Nd;
}

/** Float64 attention and its analytic gradients for the output gradient g. */
function refAttention(
  q: Nd,
  k: Nd,
  v: Nd,
  heads: number,
  mask: Nd | null,
  mult: Float64Array | null,
  g: Nd,
): RefOut {
  const [b, s, h] = q.shape, d = h / heads, scale = 1 / Math.sqrt(d);
  const z = () => ref.nd(new Float64Array(b * s * h), [b, s, h]);
  const out = z(), dq = z(), dk = z(), dv = z();
  const at = (bi: number, i: number, hd: number, c: number) => (bi * s + i) * h + hd * d + c;
  for (let bi = 0; bi < b; bi++) {
    for (let hd = 0; hd < heads; hd++) {
      const base = (bi * heads + hd) * s * s;
      const P = new Float64Array(s * s), dS = new Float64Array(s * s);
      for (let i = 0; i < s; i++) {
        const row = P.subarray(i * s, (i + 1) * s);
        for (let j = 0; j < s; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q.data[at(bi, i, hd, c)] * k.data[at(bi, j, hd, c)];
          row[j] = dot * scale + (mask ? mask.data[bi * s + j] : 0);
        }
        const m = row.reduce((a, x) => Math.max(a, x), -Infinity);
        let sum = 0;
        row.forEach((x, j) => (sum += row[j] = Math.exp(x - m)));
        row.forEach((x, j) => (row[j] = x / sum));
        const dP = new Float64Array(s);
        let D = 0;
        for (let j = 0; j < s; j++) {
          const w = mult ? mult[base + i * s + j] : 1;
          let dot = 0;
          for (let c = 0; c < d; c++) {
            out.data[at(bi, i, hd, c)] += row[j] * w * v.data[at(bi, j, hd, c)];
            dot += g.data[at(bi, i, hd, c)] * v.data[at(bi, j, hd, c)];
            dv.data[at(bi, j, hd, c)] += row[j] * w * g.data[at(bi, i, hd, c)];
          }
          dP[j] = dot * w;
          D += dP[j] * row[j];
        }
        for (let j = 0; j < s; j++) dS[i * s + j] = row[j] * (dP[j] - D);
      }
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          const w = dS[i * s + j] * scale;
          for (let c = 0; c < d; c++) {
            dq.data[at(bi, i, hd, c)] += w * k.data[at(bi, j, hd, c)];
            dk.data[at(bi, j, hd, c)] += w * q.data[at(bi, i, hd, c)];
          }
        }
      }
    }
  }
  return { out, dq, dk, dv };
}

interface Case {
  b: number;
  s: number;
  heads: number;
  d: number;
}

/** Inputs of a case: q, k, v, an additive padding mask (per batch row, keeps >= 1), g. */
function inputs(rng: Rng, c: Case) {
  const shape = [c.b, c.s, c.heads * c.d];
  const mask = ref.nd(new Float64Array(c.b * c.s), [c.b, 1, 1, c.s]);
  for (let bi = 0; bi < c.b; bi++) {
    const len = bi === 0 ? c.s : 1 + rng.int(c.s);
    for (let j = len; j < c.s; j++) mask.data[bi * c.s + j] = -1e9;
  }
  return {
    q: rng.randn(shape),
    k: rng.randn(shape),
    v: rng.randn(shape),
    mask,
    g: rng.randn(shape),
  };
}

type Inputs = ReturnType<typeof inputs>;

/** Output and q, k, v gradients on the GPU through attention() in the current mode. */
function gpuAttention(
  x: Inputs,
  heads: number,
  opts: { mask?: boolean; drop?: DropoutRng; p?: number; f16?: boolean; packed?: boolean } = {},
): Promise<Float64Array[]> {
  return run(() => {
    const [b, s, h] = x.q.shape;
    let leaves: Tensor[], qkv: Tensor[];
    if (opts.packed) {
      // One [b, s, 3h] tensor, Q, K, V its slices: read in place (strided rows).
      const all = ref.concat([x.q, x.k, x.v], 2), t = up(all);
      t.requiresGrad = true;
      leaves = [t];
      qkv = [0, 1, 2].map((i) => op.slice(t, 2, i * h, (i + 1) * h));
    } else {
      leaves = qkv = [x.q, x.k, x.v].map((a) => {
        const t = up(a);
        t.requiresGrad = true;
        return t;
      });
    }
    const cast = (t: Tensor) => (opts.f16 ? op.cast(t, "f16") : t);
    const mask = opts.mask ? cast(up(x.mask)) : null;
    const drop = opts.drop ? { p: opts.p ?? 0.1, rng: opts.drop } : null;
    const [q, k, v] = qkv.map(cast);
    const y = op.attention(q, k, v, heads, 1 / Math.sqrt(h / heads), mask, drop);
    assert.deepEqual([...y.shape], [b, s, h]);
    op.backward(y, cast(up(x.g)));
    const grads = leaves.map((t) => op.keep(t.grad!));
    leaves.forEach((t) => (t.grad = null));
    return [y, ...grads];
  });
}

const F32 = { atol: 2e-5, rtol: 2e-4 };
const F32_GRAD = { atol: 1e-4, rtol: 1e-3 };

async function checkCase(rng: Rng, c: Case, opts: { mask: boolean; p?: number }): Promise<void> {
  const x = inputs(rng, c), n = c.b * c.heads * c.s * c.s;
  const seed = rng.int(0, 2 ** 31), counter = rng.int(0, 100);
  const mult = opts.p ? dropMultiplier(n, opts.p, seed, counter) : null;
  const e = refAttention(x.q, x.k, x.v, c.heads, opts.mask ? x.mask : null, mult, x.g);
  await forEachMode(async () => {
    const rngState = opts.p ? new DropoutRng(seed, counter) : undefined;
    const [y, dq, dk, dv] = await gpuAttention(x, c.heads, { ...opts, drop: rngState });
    if (rngState) assert.equal(rngState.counter, counter + 1, "one dropout call");
    const what = `[${c.b}, ${c.s}, ${c.heads}x${c.d}] mask ${opts.mask} p ${opts.p ?? 0}`;
    assertClose(y, e.out, F32, `${what}: output`);
    assertClose(dq, e.dq, F32_GRAD, `${what}: dq`);
    assertClose(dk, e.dk, F32_GRAD, `${what}: dk`);
    assertClose(dv, e.dv, F32_GRAD, `${what}: dv`);
  });
}

test("attention: fused kernels take the demo's and roberta's shapes", () => {
  op.tidy(() => {
    const t = (s: number, h: number) => op.zeros([2, s, h]);
    const m = op.zeros([2, 1, 1, 29]);
    assert.ok(op.fusedAttentionSupported(t(29, 64), t(29, 64), t(29, 64), 4, m));
    assert.ok(op.fusedAttentionSupported(t(64, 768), t(64, 768), t(64, 768), 12, null));
    // Head dim 6 is not a whole number of vec4s: the composite runs instead.
    assert.ok(!op.fusedAttentionSupported(t(5, 12), t(5, 12), t(5, 12), 2, null));
  });
});

test("attention: tiny shapes, FD gradients of q, k, v, with and without mask", async (rng) => {
  await forEachMode(async () => {
    const c = { b: 2, s: 5, heads: 2, d: 4 }, x = inputs(rng, c);
    const f = (q: Tensor, k: Tensor, v: Tensor, m?: Tensor) =>
      op.attention(q, k, v, 2, 0.5, m ?? null, null);
    const r = (q: Nd, k: Nd, v: Nd, m?: Nd) =>
      refAttention(q, k, v, 2, m ?? null, null, ref.map1(q, () => 0)).out;
    await gradcheck({ inputs: [x.q, x.k, x.v], gpu: f, ref: r, rng });
    await gradcheck({
      inputs: [x.q, x.k, x.v, x.mask],
      constant: [3],
      gpu: f,
      ref: r,
      rng,
      what: "masked",
    });
  });
});

test("attention: odd lengths (29, 37), mask, analytic gradients", async (rng) => {
  await checkCase(rng, { b: 3, s: 29, heads: 4, d: 16 }, { mask: true });
  await checkCase(rng, { b: 2, s: 37, heads: 2, d: 8 }, { mask: true });
  await checkCase(rng, { b: 2, s: 37, heads: 3, d: 4 }, { mask: false });
});

test("attention: roberta-base heads (12 x 64) at 64 tokens", async (rng) => {
  await checkCase(rng, { b: 2, s: 64, heads: 12, d: 64 }, { mask: true });
});

test("attention: dropout draws the dropout op's masks, forward and backward", async (rng) => {
  await checkCase(rng, { b: 2, s: 5, heads: 2, d: 4 }, { mask: true, p: 0.3 });
  await checkCase(rng, { b: 3, s: 29, heads: 4, d: 16 }, { mask: true, p: 0.1 });
});

test("attention: q, k, v as slices of one [b, s, 3h] tensor", async (rng) => {
  const c = { b: 2, s: 13, heads: 2, d: 8 }, x = inputs(rng, c);
  const e = refAttention(x.q, x.k, x.v, c.heads, x.mask, null, x.g);
  await forEachMode(async () => {
    const [y, dall] = await gpuAttention(x, c.heads, { mask: true, packed: true });
    assertClose(y, e.out, F32, "output");
    const de = ref.concat([e.dq, e.dk, e.dv], 2);
    assertClose(dall, de, F32_GRAD, "packed gradient");
  });
});

test("attention: f16 inputs, fused against the composite and the reference", async (rng) => {
  if (!hasF16) return;
  const c = { b: 2, s: 29, heads: 4, d: 16 }, x0 = inputs(rng, c);
  const x = { ...x0, q: f16round(x0.q), k: f16round(x0.k), v: f16round(x0.v), g: f16round(x0.g) };
  const e = refAttention(x.q, x.k, x.v, c.heads, x.mask, null, x.g);
  const got: Float64Array[][] = [];
  await forEachMode(async () => {
    got.push(await gpuAttention(x, c.heads, { mask: true, f16: true }));
  });
  const names = ["output", "dq", "dk", "dv"], exp = [e.out, e.dq, e.dk, e.dv];
  // f16 scores, probabilities and outputs: about 3 significant digits.
  const tol = { atol: 4e-3, rtol: 1e-2 };
  got.forEach((g, m) =>
    g.forEach((a, i) => assertClose(a, exp[i], tol, `${MODES[m]} f16 ${names[i]}`))
  );
  got[0].forEach((a, i) => assertClose(a, got[1][i], tol, `fused vs composite f16 ${names[i]}`));
});

test("attention: inference (no tape, no saved probabilities)", async (rng) => {
  for (const c of [{ b: 3, s: 29, heads: 4, d: 16 }, { b: 2, s: 64, heads: 12, d: 64 }]) {
    const x = inputs(rng, c);
    const e = refAttention(x.q, x.k, x.v, c.heads, x.mask, null, x.g);
    await forEachMode(async () => {
      const [y] = await run(() =>
        op.noGrad(() => [
          op.attention(up(x.q), up(x.k), up(x.v), c.heads, 1 / Math.sqrt(c.d), up(x.mask), null),
        ])
      );
      assertClose(y, e.out, F32, `[${c.b}, ${c.s}, ${c.heads}x${c.d}] inference`);
    });
  }
});

// Checks of the float64 reference itself against published values and identities, so a
// wrong reference cannot silently bless a wrong kernel.
import assert from "node:assert/strict";
import * as ref from "./reference.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

Deno.test("reference: erf matches published values", () => {
  // erf to 16 digits (Abramowitz & Stegun table 7.1, extended with mpmath).
  const table: [number, number][] = [
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
  ];
  for (const [x, e] of table) {
    close(ref.erf(x), e, 1e-14, `erf(${x})`);
    close(ref.erf(-x), -e, 1e-14, `erf(${-x})`);
  }
  // erfc(3) = 2.209049699858544e-5 checks the tail branch's relative accuracy.
  close(1 - ref.erf(3), 2.209049699858544e-5, 1e-15, "erfc(3)");
});

Deno.test("reference: erf' = 2/sqrt(pi) exp(-x^2), across the branch switch", () => {
  for (const x of [0, 0.7, 2.3, 2.4999, 2.5, 2.5001, 3.2]) {
    const h = 1e-5;
    const fd = (ref.erf(x + h) - ref.erf(x - h)) / (2 * h);
    close(fd, (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x), 1e-9, `erf'(${x})`);
  }
});

Deno.test("reference: matmul, softmax, layer norm, losses on hand-checked cases", () => {
  const a = ref.nd([1, 2, 3, 4, 5, 6], [2, 3]), b = ref.nd([7, 8, 9, 10, 11, 12], [3, 2]);
  assert.deepEqual([...ref.matmul(a, b).data], [58, 64, 139, 154]);
  const s = ref.softmax(ref.nd([0, Math.log(3), 5], [1, 3]), ref.nd([0, 0, -Infinity], [3]));
  assert.deepEqual([...s.data].map((v) => +v.toFixed(12)), [0.25, 0.75, 0]);
  const ln = ref.layerNorm(ref.nd([1, 3], [1, 2]), ref.nd([1, 1], [2]), ref.nd([0, 0], [2]), 0);
  assert.deepEqual([...ln.data], [-1, 1]);
  close(ref.crossEntropy(ref.nd([0, 0, 9, 9], [2, 2]), [1, -100]), Math.LN2, 1e-15, "CE");
  close(ref.bceWithLogits(ref.nd([0, 800], [2]), ref.nd([1, 1], [2])), Math.LN2 / 2, 1e-15, "BCE");
  const mx = ref.maxGrad(ref.nd([1, 3, 3, 3], [1, 4]), 1, ref.nd([6], [1]));
  assert.deepEqual([...mx.data], [0, 2, 2, 2]);
});

Deno.test("reference: broadcasting and views", () => {
  const x = ref.nd([1, 2, 3], [3, 1]), y = ref.nd([10, 20], [2]);
  assert.deepEqual([...ref.add(x, y).data], [11, 21, 12, 22, 13, 23]);
  const t = ref.nd([0, 1, 2, 3, 4, 5], [2, 3]);
  assert.deepEqual([...ref.transpose(t).data], [0, 3, 1, 4, 2, 5]);
  assert.deepEqual([...ref.slice(t, 1, 1, 3).data], [1, 2, 4, 5]);
  assert.deepEqual([...ref.concat([t, ref.slice(t, 1, 0, 1)], 1).data], [0, 1, 2, 0, 3, 4, 5, 3]);
  assert.deepEqual([...ref.reduce(t, 0, "sum").data], [3, 5, 7]);
  assert.deepEqual([...ref.indexSelect(t, 1, [2, 2, 0], [3]).data], [2, 2, 0, 5, 5, 3]);
});

Deno.test("reference: first AdamW step moves each weight by about lr against its gradient", () => {
  const c = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 };
  const s = {
    params: [new Float64Array([1, 1])],
    m: [new Float64Array(2)],
    v: [new Float64Array(2)],
    step: 0,
  };
  ref.adamwStep(s, [new Float64Array([0.5, -3])], c);
  close(s.params[0][0], 0.9, 1e-7, "p0");
  close(s.params[0][1], 1.1, 1e-7, "p1");
  close(ref.clipCoef(10, 1), 1 / (10 + 1e-6), 1e-15, "clip");
  assert.equal(ref.clipCoef(0.5, 1), 1);
});

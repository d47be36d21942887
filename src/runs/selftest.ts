// The GPU self-test shared by doctor and demo: matmuls (plain and with a transposed
// operand, the layout linear layers use) checked against a float64 CPU product and timed.
import { matmul, Tensor, tidy, transpose } from "../tensor/mod.ts";
import { Rng } from "../nn/init.ts";

export interface MatmulCheck {
  m: number;
  n: number;
  k: number;
  transposedB: boolean;
  maxError: number;
  tolerance: number;
  gflops: number;
  pass: boolean;
}

/** C = A @ B for row-major A [m, k], B [k, n] in float64. */
function cpuMatmul(a: Float32Array, b: Float32Array, m: number, n: number, k: number) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p], row = i * n, brow = p * n;
      for (let j = 0; j < n; j++) c[row + j] += av * b[brow + j];
    }
  }
  return c;
}

/** Runs one checked, timed product; the timing repeats it for about `seconds`. */
export async function checkMatmul(
  m: number,
  n: number,
  k: number,
  transposedB: boolean,
  seconds: number,
): Promise<MatmulCheck> {
  const rng = new Rng(m * 31 + n * 7 + k);
  const a = Float32Array.from({ length: m * k }, () => 2 * rng.next() - 1);
  const b = Float32Array.from({ length: k * n }, () => 2 * rng.next() - 1);
  const ta = Tensor.from(a, [m, k]);
  // With transposedB the GPU reads B through a transposed view of a [n, k] tensor.
  const bt = new Float32Array(k * n);
  for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
  const tb = transposedB ? Tensor.from(bt, [n, k]) : Tensor.from(b, [k, n]);
  const product = (): Tensor => tidy(() => matmul(ta, transposedB ? transpose(tb) : tb));
  const c = product();
  const got = await c.data();
  c.dispose();
  const want = cpuMatmul(a, b, m, n, k);
  let maxError = 0;
  for (let i = 0; i < want.length; i++) {
    // NaN must fail: Math.max would keep it, a plain comparison would not.
    const e = Math.abs(got[i] - want[i]);
    maxError = Number.isNaN(e) ? NaN : Math.max(maxError, e);
  }
  // f32 rounding grows with k; inputs are in [-1, 1].
  const tolerance = 1e-6 * k;
  // One timed run sizes the batch; the batch is queued whole and waited for once.
  let t0 = performance.now();
  product().dispose();
  await ta.sync();
  const once = performance.now() - t0;
  const reps = Math.max(1, Math.min(200, Math.round((seconds * 1000) / once)));
  t0 = performance.now();
  for (let r = 0; r < reps; r++) product().dispose();
  await ta.sync();
  const dt = (performance.now() - t0) / 1000 / reps;
  ta.dispose();
  tb.dispose();
  return {
    m,
    n,
    k,
    transposedB,
    maxError,
    tolerance,
    gflops: (2 * m * n * k) / dt / 1e9,
    pass: maxError <= tolerance,
  };
}

export function describeCheck(c: MatmulCheck): string {
  const shape = `${c.m}x${c.k} @ ${c.k}x${c.n}${c.transposedB ? " (B transposed)" : ""}`;
  return `${c.pass ? "PASS" : "FAIL"}  matmul ${shape.padEnd(32)} max error ${
    c.maxError.toExponential(2)
  } (tolerance ${c.tolerance.toExponential(1)})  ${c.gflops.toFixed(2)} GFLOP/s`;
}

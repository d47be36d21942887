// Float64 CPU reference for every op, written from the ops' mathematical definitions (and
// torch's semantics where there is a choice). It imports nothing from src/: tests compare
// our kernels against this, and finite differences of this check our gradients.

/** A dense row-major float64 array. */
export interface Nd {
  shape: number[];
  data: Float64Array;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function nd(data: ArrayLike<number>, shape: readonly number[]): Nd {
  if (data.length !== numel(shape)) throw new Error(`${data.length} values for [${shape}]`);
  return { shape: [...shape], data: Float64Array.from(data) };
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Multi-index of flat position i in `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

// ---- elementwise with numpy broadcasting -------------------------------------------
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`[${a}] and [${b}] do not broadcast`);
    return x === 1 ? y : x;
  });
}

/** x read as `shape` (size-1 and missing leading axes repeat). */
export function expand(x: Nd, shape: readonly number[]): Nd {
  const lead = shape.length - x.shape.length;
  const xs = stridesOf(x.shape);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    let src = 0;
    for (let d = 0; d < x.shape.length; d++) {
      if (x.shape[d] !== 1) src += idx[d + lead] * xs[d];
    }
    out[i] = x.data[src];
  }
  return { shape: [...shape], data: out };
}

export function map1(x: Nd, f: (v: number) => number): Nd {
  return { shape: [...x.shape], data: x.data.map(f) };
}

export function map2(a: Nd, b: Nd, f: (x: number, y: number) => number): Nd {
  const shape = broadcastShape(a.shape, b.shape);
  const ea = expand(a, shape), eb = expand(b, shape);
  return { shape, data: ea.data.map((v, i) => f(v, eb.data[i])) };
}

export const add = (a: Nd, b: Nd) => map2(a, b, (x, y) => x + y);
export const sub = (a: Nd, b: Nd) => map2(a, b, (x, y) => x - y);
export const mul = (a: Nd, b: Nd) => map2(a, b, (x, y) => x * y);
export const div = (a: Nd, b: Nd) => map2(a, b, (x, y) => x / y);

// ---- erf and GELU -------------------------------------------------------------------
/**
 * erf in double precision: Maclaurin series for |x| < 2.5 (terms stay below ~500, so
 * about 1e-14 absolute), the erfc continued fraction (evaluated bottom-up) beyond.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 2.5) {
    let term = z, sum = z;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...)))))
    let f = z;
    for (let k = 200; k >= 1; k--) f = z + k / 2 / f;
    r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

export const geluScalar = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const sigmoidScalar = (x: number) => 1 / (1 + Math.exp(-x));

// ---- reductions -----------------------------------------------------------------------
export function reduce(x: Nd, axis: number, kind: "sum" | "mean" | "max", keepDim = false): Nd {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const outer = numel(x.shape.slice(0, a)), n = x.shape[a], inner = numel(x.shape.slice(a + 1));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = kind === "max" ? -Infinity : 0;
      for (let k = 0; k < n; k++) {
        const v = x.data[(o * n + k) * inner + i];
        acc = kind === "max" ? Math.max(acc, v) : acc + v;
      }
      out[o * inner + i] = kind === "mean" ? acc / n : acc;
    }
  }
  const shape = keepDim
    ? x.shape.map((d, i) => (i === a ? 1 : d))
    : x.shape.filter((_, i) => i !== a);
  return { shape, data: out };
}

export const sumAll = (x: Nd) => x.data.reduce((s, v) => s + v, 0);

/** torch.amax's gradient: upstream g split evenly among the tied maxima. */
export function maxGrad(x: Nd, axis: number, g: Nd): Nd {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const outer = numel(x.shape.slice(0, a)), n = x.shape[a], inner = numel(x.shape.slice(a + 1));
  const m = reduce(x, a, "max");
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * n + k) * inner + i;
      const mx = m.data[o * inner + i];
      let ties = 0;
      for (let k = 0; k < n; k++) if (x.data[at(k)] === mx) ties++;
      for (let k = 0; k < n; k++) {
        if (x.data[at(k)] === mx) out[at(k)] = g.data[o * inner + i] / ties;
      }
    }
  }
  return { shape: [...x.shape], data: out };
}

// ---- shapes -------------------------------------------------------------------------
export function reshape(x: Nd, shape: readonly number[]): Nd {
  return nd(x.data, shape);
}

export function permute(x: Nd, axes: readonly number[]): Nd {
  const shape = axes.map((a) => x.shape[a]);
  const xs = stridesOf(x.shape);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    let src = 0;
    axes.forEach((a, d) => (src += idx[d] * xs[a]));
    out[i] = x.data[src];
  }
  return { shape, data: out };
}

/** Swaps the last two axes. */
export function transpose(x: Nd): Nd {
  const r = x.shape.length;
  const axes = [...Array(r).keys()];
  [axes[r - 2], axes[r - 1]] = [axes[r - 1], axes[r - 2]];
  return permute(x, axes);
}

export function slice(x: Nd, axis: number, start: number, end: number): Nd {
  const shape = x.shape.map((d, i) => (i === axis ? end - start : d));
  const xs = stridesOf(x.shape);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    idx[axis] += start;
    out[i] = x.data[idx.reduce((s, v, d) => s + v * xs[d], 0)];
  }
  return { shape, data: out };
}

export function concat(xs: Nd[], axis: number): Nd {
  const shape = xs[0].shape.map((
    d,
    i,
  ) => (i === axis ? xs.reduce((s, t) => s + t.shape[i], 0) : d));
  const os = stridesOf(shape);
  const out = new Float64Array(numel(shape));
  let at = 0;
  for (const t of xs) {
    for (let i = 0; i < t.data.length; i++) {
      const idx = unravel(i, t.shape);
      idx[axis] += at;
      out[idx.reduce((s, v, d) => s + v * os[d], 0)] = t.data[i];
    }
    at += t.shape[axis];
  }
  return { shape, data: out };
}

// ---- matmul ---------------------------------------------------------------------------
/** a [..., M, K] @ b [..., K, N]; a 2-D operand is shared across the other's batch. */
export function matmul(a: Nd, b: Nd): Nd {
  const [m, k] = a.shape.slice(-2), [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new Error(`matmul [${a.shape}] @ [${b.shape}]`);
  const batchShape = a.shape.length > 2 ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const batch = numel(batchShape);
  const sa = a.shape.length > 2 ? m * k : 0, sb = b.shape.length > 2 ? k * n : 0;
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < m; i++) {
      const row = out.subarray((z * m + i) * n, (z * m + i + 1) * n);
      for (let p = 0; p < k; p++) {
        const av = a.data[z * sa + i * k + p];
        const bo = z * sb + p * n;
        for (let j = 0; j < n; j++) row[j] += av * b.data[bo + j];
      }
    }
  }
  return { shape: [...batchShape, m, n], data: out };
}

/** x @ w^T + bias, w in [out, in] layout. */
export function linear(x: Nd, w: Nd, bias: Nd | null): Nd {
  const y = matmul(x, transpose(w));
  return bias ? add(y, bias) : y;
}

// ---- row ops ------------------------------------------------------------------------
/** softmax(x + mask) over the last axis (mask broadcast to x's shape). */
export function softmax(x: Nd, mask: Nd | null = null): Nd {
  const z = mask ? add(x, mask) : x;
  const n = x.shape[x.shape.length - 1];
  const out = new Float64Array(z.data.length);
  for (let r = 0; r < z.data.length / n; r++) {
    const row = z.data.subarray(r * n, (r + 1) * n);
    const m = row.reduce((a, v) => Math.max(a, v), -Infinity);
    let s = 0;
    for (let j = 0; j < n; j++) s += out[r * n + j] = Math.exp(row[j] - m);
    for (let j = 0; j < n; j++) out[r * n + j] /= s;
  }
  return { shape: [...x.shape], data: out };
}

/** Layer norm over the last axis, biased variance (two-pass), as torch. */
export function layerNorm(x: Nd, gamma: Nd, beta: Nd, eps = 1e-5): Nd {
  const n = x.shape[x.shape.length - 1];
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / n; r++) {
    const row = x.data.subarray(r * n, (r + 1) * n);
    const mu = row.reduce((s, v) => s + v, 0) / n;
    const v = row.reduce((s, t) => s + (t - mu) ** 2, 0) / n;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < n; j++) {
      out[r * n + j] = (row[j] - mu) * rstd * gamma.data[j] + beta.data[j];
    }
  }
  return { shape: [...x.shape], data: out };
}

// ---- indexing -----------------------------------------------------------------------
/** x indexed along `axis` by ids (of shape idsShape, which replaces that axis). */
export function indexSelect(
  x: Nd,
  axis: number,
  ids: ArrayLike<number>,
  idsShape: readonly number[],
): Nd {
  const outer = numel(x.shape.slice(0, axis)), rows = x.shape[axis];
  const inner = numel(x.shape.slice(axis + 1));
  const shape = [...x.shape.slice(0, axis), ...idsShape, ...x.shape.slice(axis + 1)];
  const out = new Float64Array(numel(shape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < ids.length; j++) {
      for (let i = 0; i < inner; i++) {
        out[(o * ids.length + j) * inner + i] = x.data[(o * rows + ids[j]) * inner + i];
      }
    }
  }
  return { shape, data: out };
}

// ---- losses ---------------------------------------------------------------------------
/** Mean cross-entropy over rows whose label is not ignoreIndex (0 when none count). */
export function crossEntropy(logits: Nd, labels: ArrayLike<number>, ignoreIndex = -100): number {
  const c = logits.shape[logits.shape.length - 1];
  let total = 0, count = 0;
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] === ignoreIndex) continue;
    const row = logits.data.subarray(r * c, (r + 1) * c);
    const m = row.reduce((a, v) => Math.max(a, v), -Infinity);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - row[labels[r]];
    count++;
  }
  return total / Math.max(count, 1);
}

/** Mean of -[y log sigmoid(x) + (1-y) log(1 - sigmoid(x))], in a stable form. */
export function bceWithLogits(x: Nd, y: Nd): number {
  let s = 0;
  x.data.forEach((v, i) => {
    const t = y.data[i];
    // log sigmoid(v) = -softplus(-v), log(1 - sigmoid(v)) = -softplus(v)
    s += t * softplus(-v) + (1 - t) * softplus(v);
  });
  return s / x.data.length;
}

function softplus(v: number): number {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}

// ---- optimizer ------------------------------------------------------------------------
export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

export interface AdamWState {
  params: Float64Array[];
  m: Float64Array[];
  v: Float64Array[];
  step: number;
}

/** sqrt of the sum of squares over every gradient. */
export function gradNorm(grads: Float64Array[]): number {
  return Math.sqrt(grads.reduce((s, g) => s + g.reduce((t, v) => t + v * v, 0), 0));
}

/** torch.nn.utils.clip_grad_norm_'s factor: max_norm / (norm + 1e-6), at most 1. */
export function clipCoef(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** One torch.optim.AdamW step in place (after clipping when maxGradNorm > 0); returns the norm. */
export function adamwStep(s: AdamWState, grads: Float64Array[], c: AdamWConfig): number {
  const norm = gradNorm(grads);
  const coef = c.maxGradNorm > 0 ? clipCoef(norm, c.maxGradNorm) : 1;
  s.step++;
  const bc1 = 1 - c.beta1 ** s.step, bc2 = 1 - c.beta2 ** s.step;
  s.params.forEach((p, k) => {
    const m = s.m[k], v = s.v[k];
    for (let i = 0; i < p.length; i++) {
      const g = grads[k][i] * coef;
      p[i] *= 1 - c.lr * c.weightDecay;
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
      p[i] -= (c.lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + c.eps);
    }
  });
  return norm;
}

/** transformers' get_linear_schedule_with_warmup, times the peak learning rate. */
export function linearWarmupDecay(step: number, peak: number, warmup: number, total: number) {
  const f = step < warmup
    ? step / Math.max(1, warmup)
    : Math.max(0, (total - step) / Math.max(1, total - warmup));
  return peak * f;
}

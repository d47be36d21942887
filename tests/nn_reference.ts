// Float64 CPU references of the BERT/RoBERTa encoder layer, in plain loops, for
// tests/nn_test.ts. Parameters are looked up by their Hugging Face names.
export type Params = Map<string, Float64Array>;

/** erf to ~1e-12: Taylor series near 0, a continued fraction for erfc in the tails. */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 2.5) {
    let term = z, sum = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))).
  let f = z;
  for (let k = 60; k >= 1; k--) f = z + k / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f);
}

export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** y [rows, out] = x [rows, in] @ W^T + b, W in [out, in] layout. */
export function linear(x: Float64Array, rows: number, w: Float64Array, b: Float64Array) {
  const out = b.length, inF = w.length / out;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

export function layerNorm(x: Float64Array, g: Float64Array, b: Float64Array, eps: number) {
  const n = g.length, rows = x.length / n, y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0, v = 0;
    for (let i = 0; i < n; i++) mean += x[r * n + i] / n;
    for (let i = 0; i < n; i++) v += (x[r * n + i] - mean) ** 2 / n;
    for (let i = 0; i < n; i++) {
      y[r * n + i] = ((x[r * n + i] - mean) / Math.sqrt(v + eps)) * g[i] + b[i];
    }
  }
  return y;
}

function addInto(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}

export interface RefConfig {
  batch: number;
  seq: number;
  hidden: number;
  heads: number;
  eps: number;
}

/**
 * `attention` of a BERT layer (eval mode): x [batch, seq, hidden], keep [batch, seq]
 * (1 = token, 0 = padding: the key is ignored). `p` prefix e.g. "attention.".
 */
export function attention(
  x: Float64Array,
  keep: ArrayLike<number>,
  P: Params,
  c: RefConfig,
  p = "attention.",
): Float64Array {
  const { batch: B, seq: S, hidden: H, heads: NH } = c, D = H / NH, rows = B * S;
  const q = linear(x, rows, P.get(p + "self.query.weight")!, P.get(p + "self.query.bias")!);
  const k = linear(x, rows, P.get(p + "self.key.weight")!, P.get(p + "self.key.bias")!);
  const v = linear(x, rows, P.get(p + "self.value.weight")!, P.get(p + "self.value.bias")!);
  const ctx = new Float64Array(rows * H);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let i = 0; i < S; i++) {
        const scores: number[] = [];
        for (let j = 0; j < S; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) {
            s += q[(b * S + i) * H + h * D + d] * k[(b * S + j) * H + h * D + d];
          }
          scores.push(keep[b * S + j] ? s / Math.sqrt(D) : -Infinity);
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < D; d++) {
          let s = 0;
          for (let j = 0; j < S; j++) s += (e[j] / z) * v[(b * S + j) * H + h * D + d];
          ctx[(b * S + i) * H + h * D + d] = s;
        }
      }
    }
  }
  const o = linear(ctx, rows, P.get(p + "output.dense.weight")!, P.get(p + "output.dense.bias")!);
  return layerNorm(
    addInto(o, x),
    P.get(p + "output.LayerNorm.weight")!,
    P.get(p + "output.LayerNorm.bias")!,
    c.eps,
  );
}

/** A post-LN BERT layer (eval mode); `p` prefix e.g. "" or "encoder.layer.0.". */
export function transformerLayer(
  x: Float64Array,
  keep: ArrayLike<number>,
  P: Params,
  c: RefConfig,
  p = "",
): Float64Array {
  const rows = c.batch * c.seq;
  const a = attention(x, keep, P, c, p + "attention.");
  const inter = linear(
    a,
    rows,
    P.get(p + "intermediate.dense.weight")!,
    P.get(p + "intermediate.dense.bias")!,
  ).map(gelu);
  const o = linear(inter, rows, P.get(p + "output.dense.weight")!, P.get(p + "output.dense.bias")!);
  return layerNorm(
    addInto(o, a),
    P.get(p + "output.LayerNorm.weight")!,
    P.get(p + "output.LayerNorm.bias")!,
    c.eps,
  );
}

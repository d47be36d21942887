// Differentiable elementwise ops with broadcasting, forward and backward side by side; the
// backward of a unary op is itself a binary elementwise map (x or y, grad). The kernels are
// in kernels/elementwise.ts.
import { record } from "../autograd.ts";
import { addRaw, mapRaw } from "../kernels/elementwise.ts";
import { sumTo } from "../kernels/reduce.ts";
import type { DType, Tensor } from "../tensor.ts";

// ---- binary arithmetic with broadcasting --------------------------------------------
export function add(a: Tensor, b: Tensor): Tensor {
  return record(addRaw(a, b), [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return record(mapRaw("sub", "a - b", a, b), [a, b], (g) => {
    const gb = mapRaw("neg", "-a", g);
    const r = [sumTo(g, a.shape), sumTo(gb, b.shape)];
    gb.dispose();
    return r;
  });
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return record(mapRaw("mul", "a * b", a, b), [a, b], (g) => {
    const ga = a.requiresGrad ? mapRaw("mul", "a * b", g, b) : null;
    const gb = b.requiresGrad ? mapRaw("mul", "a * b", g, a) : null;
    return [reduceOwned(ga, a.shape), reduceOwned(gb, b.shape)];
  });
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = mapRaw("div", "a / b", a, b);
  return record(out, [a, b], (g) => {
    const ga = a.requiresGrad ? mapRaw("div", "a / b", g, b) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      const t = mapRaw("mul", "a * b", g, out);
      gb = mapRaw("div_grad", "-a / b", t, b);
      t.dispose();
    }
    return [reduceOwned(ga, a.shape), reduceOwned(gb, b.shape)];
  });
}

/** sumTo, disposing the full-size gradient it reduced. */
function reduceOwned(g: Tensor | null, shape: readonly number[]): Tensor | null {
  if (!g) return null;
  const r = sumTo(g, shape);
  g.dispose();
  return r;
}

// ---- unary maps: [forward expr in a, c; backward expr in a = x or y, b = grad] --------
function unary(
  name: string,
  fwd: string,
  grad: string,
  uses: "x" | "y",
  x: Tensor,
  c = 0,
): Tensor {
  const y = mapRaw(name, fwd, x, null, c);
  return record(y, [x], (g) => [mapRaw(name + "_grad", grad, uses === "x" ? x : y, g, c)]);
}

export const neg = (x: Tensor) => unary("neg", "-a", "-b", "x", x);
export const exp = (x: Tensor) => unary("exp", "exp(a)", "b * a", "y", x);
export const log = (x: Tensor) => unary("log", "log(a)", "b / a", "x", x);
export const sqrt = (x: Tensor) => unary("sqrt", "sqrt(a)", "0.5 * b / a", "y", x);
export const rsqrt = (x: Tensor) =>
  unary("rsqrt", "inverseSqrt(a)", "-0.5 * b * a * a * a", "y", x);
/** tanh, accurate near 0 and clamped so large inputs give +-1 rather than NaN. */
export const tanh = (x: Tensor) => unary("tanh", "tanh_f(a)", "b * (1.0 - a * a)", "y", x);
/** Exact (erf) GELU, as BERT and RoBERTa use. */
export const gelu = (x: Tensor) => unary("gelu", "gelu(a)", "b * gelu_grad(a)", "x", x);
export const sigmoid = (x: Tensor) =>
  unary("sigmoid", "1.0 / (1.0 + exp(-a))", "b * a * (1.0 - a)", "y", x);
export const relu = (x: Tensor) => unary("relu", "max(a, 0.0)", "select(0.0, b, a > 0.0)", "x", x);
export const pow = (x: Tensor, p: number) =>
  unary("pow", "pow_c(a, c)", "b * c * pow_c(a, c - 1.0)", "x", x, p);
export const addScalar = (x: Tensor, c: number) => unary("addc", "a + c", "b", "x", x, c);
export const mulScalar = (x: Tensor, c: number) => unary("mulc", "a * c", "b * c", "x", x, c);

/** Converts dtype (f32 <-> f16, i32 -> f32); gradients flow back in the input's dtype. */
export function cast(x: Tensor, dtype: DType): Tensor {
  const y = mapRaw("cast", "a", x, null, 0, dtype);
  return record(y, [x], (g) => [mapRaw("cast", "a", g, null, 0, x.dtype)]);
}

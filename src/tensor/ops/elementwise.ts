// Elementwise ops with broadcasting. Forward and backward of each op side by side; the
// backward of a unary op is itself a binary elementwise map (x or y, grad).
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { GpuError } from "../../gpu/device.ts";
import { record } from "../autograd.ts";
import { type DType, Tensor } from "../tensor.ts";
import { fillBuffer } from "./fill.ts";
import { sumTo } from "./reduce.ts";
import src from "../../../shaders/elementwise.wgsl" with { type: "text" };

const MAX_RANK = 6;

/** numpy broadcasting of two shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new GpuError(`shapes [${a}] and [${b}] do not broadcast`);
    }
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of `t` read as `shape` (broadcast dims get stride 0), padded to rank 6. */
function stridesFor(t: Tensor, shape: readonly number[]): number[] {
  const pad = MAX_RANK - shape.length;
  const out = new Array(MAX_RANK).fill(0);
  const off = shape.length - t.rank;
  for (let i = 0; i < t.rank; i++) out[pad + off + i] = t.shape[i] === 1 ? 0 : t.strides[i];
  return out;
}

function paramsFor(shape: readonly number[], a: Tensor, b: Tensor | null, c: number): number[] {
  if (shape.length > MAX_RANK) throw new GpuError(`rank ${shape.length} > ${MAX_RANK}`);
  const padded = [...new Array(MAX_RANK - shape.length).fill(1), ...shape];
  return [
    padded.reduce((x, y) => x * y, 1),
    a.offset,
    b?.offset ?? 0,
    ...padded,
    ...stridesFor(a, shape),
    ...(b ? stridesFor(b, shape) : new Array(MAX_RANK).fill(0)),
    f32bits(c),
  ];
}

function sameDense(t: Tensor, shape: readonly number[]): boolean {
  return t.isContiguous() && t.rank === shape.length && t.shape.every((d, i) => d === shape[i]);
}

/** Result dtype: f16 only when every float input is f16. */
function resultType(...ts: Tensor[]): DType {
  return ts.every((t) => t.dtype === "f16") ? "f16" : "f32";
}

/** Runs a map `expr` (in a, b, c) and returns a new dense tensor (no autograd). */
export function map(
  name: string,
  expr: string,
  a: Tensor,
  b: Tensor | null = null,
  c = 0,
  outType: DType = b ? resultType(a, b) : (a.dtype === "i32" ? "f32" : a.dtype),
): Tensor {
  const shape = b ? broadcastShapes(a.shape, b.shape) : [...a.shape];
  const out = Tensor.empty(shape, outType, name);
  const strided = !sameDense(a, shape) || (b !== null && !sameDense(b, shape));
  const k = elementKernel("elementwise", src, {
    TA: a.dtype,
    TO: outType,
    EXPR: expr,
    STRIDED: strided,
    OUT_BINDING: b ? 3 : 2,
    DECL_B: b ? `@group(0) @binding(2) var<storage, read> B: array<${b.dtype}>;` : "",
    LOAD_B: b ? "let b = f32(B[ib]);" : "",
  });
  const bind = [{ buffer: a.buffer, what: "input a" }];
  if (b) bind.push({ buffer: b.buffer, what: "input b" });
  bind.push({ buffer: out.buffer, what: "output" });
  dispatch(k, bind, paramsFor(shape, a, b, c), Math.ceil(out.size / 256));
  return out;
}

// ---- binary arithmetic with broadcasting --------------------------------------------
export function add(a: Tensor, b: Tensor): Tensor {
  return record(map("add", "a + b", a, b), [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return record(map("sub", "a - b", a, b), [a, b], (g) => {
    const gb = map("neg", "-a", g);
    const r = [sumTo(g, a.shape), sumTo(gb, b.shape)];
    gb.dispose();
    return r;
  });
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return record(map("mul", "a * b", a, b), [a, b], (g) => {
    const ga = a.requiresGrad ? map("mul", "a * b", g, b) : null;
    const gb = b.requiresGrad ? map("mul", "a * b", g, a) : null;
    return [reduceOwned(ga, a.shape), reduceOwned(gb, b.shape)];
  });
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = map("div", "a / b", a, b);
  return record(out, [a, b], (g) => {
    const ga = a.requiresGrad ? map("div", "a / b", g, b) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      const t = map("mul", "a * b", g, out);
      gb = map("div_grad", "-a / b", t, b);
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
  const y = map(name, fwd, x, null, c);
  return record(y, [x], (g) => [map(name + "_grad", grad, uses === "x" ? x : y, g, c)]);
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
  const y = map("cast", "a", x, null, 0, dtype);
  return record(y, [x], (g) => [map("cast", "a", g, null, 0, x.dtype)]);
}

/** A new dense tensor filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
  const out = Tensor.empty(shape, dtype, "full");
  fillBuffer(out.buffer, out.size, dtype, value);
  return out;
}

export const zeros = (shape: readonly number[], dtype: DType = "f32") => full(shape, 0, dtype);
export const ones = (shape: readonly number[], dtype: DType = "f32") => full(shape, 1, dtype);

// Elementwise kernel launches with broadcasting, and constant tensors; nothing here records a
// gradient (ops/elementwise.ts records the differentiable ops built on mapRaw).
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { type DType, Tensor } from "../tensor.ts";
import { fillBuffer } from "./fill.ts";
import src from "../../../shaders/elementwise.wgsl" with { type: "text" };

const MAX_RANK = 6;

/** numpy broadcasting of two shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
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
  if (shape.length > MAX_RANK) throw new Error(`rank ${shape.length} > ${MAX_RANK}`);
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

/** Runs a map `expr` (in a, b, c) and returns a new dense tensor; records no gradient. */
export function mapRaw(
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

/** a + b with broadcasting: the add op's kernel, and how backward() sums gradients. */
export function addRaw(a: Tensor, b: Tensor): Tensor {
  return mapRaw("add", "a + b", a, b);
}

/** A new dense tensor filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
  const out = Tensor.empty(shape, dtype, "full");
  fillBuffer(out.buffer, out.size, dtype, value);
  return out;
}

export const zeros = (shape: readonly number[], dtype: DType = "f32") => full(shape, 0, dtype);
export const ones = (shape: readonly number[], dtype: DType = "f32") => full(shape, 1, dtype);

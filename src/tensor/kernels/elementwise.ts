// Elementwise kernel launches with broadcasting, and constant tensors; nothing here records a
// gradient (ops/elementwise.ts records the differentiable ops built on mapRaw).
import { elementKernel, kernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { type DType, Tensor } from "../tensor.ts";
import { fillBuffer } from "./fill.ts";
import mathSrc from "../../../shaders/elementwise_math.wgsl" with { type: "text" };
import stridedSrc from "../../../shaders/elementwise.wgsl" with { type: "text" };
import vec4Src from "../../../shaders/elementwise_vec4.wgsl" with { type: "text" };

const MAX_RANK = 6;
/** vec4s per invocation of the dense path. */
const V = 4;

let forced: "scalar" | "vec4" | null = null;
/** Forces the strided kernel ("scalar") or allows the vec4 path (tests, benchmarks). */
export function setElementVariant(v: "scalar" | "vec4" | null): void {
  forced = v;
}

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

/** How the vec4 path reads an input: dense, a dense row repeated along the output, a scalar. */
interface Vec4Read {
  kind: "dense" | "period" | "scalar";
  offset: number;
  period: number;
}

/** The vec4 read of `t` broadcast to `shape`, or null when it needs the strided kernel. */
function vec4Read(t: Tensor, shape: readonly number[]): Vec4Read | null {
  if (t.size === 1) return { kind: "scalar", offset: t.offset, period: 0 };
  if (!t.isContiguous() || t.offset % 4 !== 0 || t.size % 4 !== 0) return null;
  const first = t.shape.findIndex((d) => d !== 1);
  const dims = t.shape.slice(first);
  const lead = shape.length - dims.length;
  if (lead < 0 || dims.some((d, i) => d !== shape[lead + i])) return null;
  const size = shape.reduce((x, y) => x * y, 1);
  return { kind: t.size === size ? "dense" : "period", offset: t.offset / 4, period: t.size / 4 };
}

// f16 inputs load as pairs of u32 (unpack4h): on llvmpipe a 16-bit component costs more
// than a 32-bit one, and the unpacking is exact.
function vec4Decl(r: Vec4Read, binding: number, name: string, type: DType): [string, string] {
  const p = binding === 1 ? 1 : 2;
  const packed = type === "f16" && r.kind !== "scalar";
  const elem = r.kind === "scalar" ? type : packed ? "vec2<u32>" : `vec4<${type}>`;
  const decl = `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${elem}>;`;
  const at = r.kind === "dense" ? `pu(${p}u) + q` : `pu(${p}u) + q % pu(${p + 2}u)`;
  const load = r.kind === "scalar"
    ? `vec4<f32>(f32(${name}[pu(${p}u)]))`
    : packed
    ? `unpack4h(${name}[${at}])`
    : `vec4<f32>(${name}[${at}])`;
  return [decl, load];
}

/** The dense vec4 kernel when every operand allows it (see elementwise_vec4.wgsl). */
function mapVec4(
  expr: string,
  a: Tensor,
  b: Tensor | null,
  c: number,
  out: Tensor,
): boolean {
  if (forced === "scalar" || out.size % 4 !== 0 || out.size === 0) return false;
  const ra = vec4Read(a, out.shape), rb = b ? vec4Read(b, out.shape) : null;
  if (!ra || (b && !rb)) return false;
  const [declA, loadA] = vec4Decl(ra, 1, "A", a.dtype);
  const [declB, loadB] = rb ? vec4Decl(rb, 2, "B", b!.dtype) : ["", "vec4<f32>(0.0)"];
  const k = kernel("elementwise_v4", mathSrc + vec4Src, {
    TO: out.dtype,
    EXPR: expr,
    V,
    OUT_BINDING: b ? 3 : 2,
    DECL_A: declA,
    DECL_B: declB,
    LOAD_A: loadA,
    LOAD_B: loadB,
  });
  const bind = [{ buffer: a.buffer, what: "input a" }];
  if (b) bind.push({ buffer: b.buffer, what: "input b" });
  bind.push({ buffer: out.buffer, what: "output" });
  const n4 = out.size / 4;
  const params = [n4, ra.offset, rb?.offset ?? 0, ra.period, rb?.period ?? 0, f32bits(c)];
  dispatch(k, bind, params, Math.ceil(n4 / (256 * V)));
  return true;
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
  if (mapVec4(expr, a, b, c, out)) return out;
  const strided = !sameDense(a, shape) || (b !== null && !sameDense(b, shape));
  const k = elementKernel("elementwise", mathSrc + stridedSrc, {
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

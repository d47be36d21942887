// Filling buffers with a constant (f16 values are stored in the low half-word pairs).
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import type { DType } from "../tensor.ts";
import src from "../../../shaders/fill.wgsl" with { type: "text" };

/** Bit pattern of `value` as one 32-bit word of `dtype` (f16: two copies). */
function bits(value: number, dtype: DType): number {
  if (dtype === "i32") return value | 0;
  if (dtype === "f32") return f32bits(value);
  const h = new Uint16Array(new Float16Array([value]).buffer)[0];
  return ((h << 16) | h) >>> 0;
}

/** Writes `value` to the first `count` elements of `buffer`. */
export function fillBuffer(buffer: GPUBuffer, count: number, dtype: DType, value: number): void {
  // f16 is filled a word (two halves) at a time.
  const words = dtype === "f16" ? Math.ceil(count / 2) : count;
  const T = dtype === "i32" ? "i32" : dtype === "f32" ? "f32" : "u32";
  const k = elementKernel("fill", src, { T });
  dispatch(k, [{ buffer, what: "output" }], [words, bits(value, dtype)], Math.ceil(words / 256));
}

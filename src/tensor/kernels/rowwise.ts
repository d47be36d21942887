// Shared plumbing for kernels over rows of the last axis. Long rows on real GPUs get a
// workgroup each; short rows, and rows up to 4096 on CPU rasterisers (where barriers are
// costly, and where llvmpipe silently ends a loop after 65,535 iterations), get one
// invocation each. Kernels see the same functions either way (row_index, row_lane,
// wg_sum, wg_max, wg_welford) and stride their loops by LANES. Kernels written over VF
// (rowWidth) read rows 4 elements at a time where the row length and offsets allow it:
// fewer, wider loads, which llvmpipe (a lane-by-lane loop per load) and GPUs both favour.
import { gpu } from "../../gpu/device.ts";
import type { Defs } from "../../gpu/kernel.ts";
import { kernel } from "../../gpu/kernel.ts";
import { type Binding, dispatch } from "../../gpu/queue.ts";
import wgMode from "../../../shaders/rowreduce.wgsl" with { type: "text" };
import threadMode from "../../../shaders/rowreduce_thread.wgsl" with { type: "text" };
import rowEntry from "../../../shaders/entry_row.wgsl" with { type: "text" };

const THREAD_ROWS = 64;
const SOFTWARE_THREAD_ROWS = 4096;

let forced: "thread" | "workgroup" | null = null;
let scalarRows = false;
/** Forces one mode (tests cover both on any adapter; benchmarks compare them). */
export function setRowMode(mode: "thread" | "workgroup" | null): void {
  forced = mode;
}

/** Forces scalar row loads ("scalar") or allows vec4 ones (null): tests, benchmarks. */
export function setRowVariant(v: "scalar" | null): void {
  scalarRows = v === "scalar";
}

// Helpers across a VF: its max and sum, and merging it into a running Welford state
// (count, mean, M2) as one chunk (Chan et al.; for one element this is Welford's update).
const HELPERS = {
  1: `fn hmax(v: f32) -> f32 { return v; }
fn hsum(v: f32) -> f32 { return v; }
fn welford_add(w: vec3<f32>, v: f32) -> vec3<f32> {
  let c = w.x + 1.0;
  let d = v - w.y;
  let m = w.y + d / c;
  return vec3<f32>(c, m, w.z + d * (v - m));
}`,
  4: `fn hmax(v: vec4<f32>) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }
fn welford_add(w: vec3<f32>, v: vec4<f32>) -> vec3<f32> {
  let cm = hsum(v) * 0.25;
  let dv = v - vec4<f32>(cm);
  let c = w.x + 4.0;
  let d = cm - w.y;
  return vec3<f32>(c, w.y + d * 4.0 / c, w.z + hsum(dv * dv) + d * d * w.x * 4.0 / c);
}`,
};

/** Whether rows of `n` over buffers starting at `offsets` (elements) allow vec4 access. */
export function vec4Rows(n: number, offsets: number[]): boolean {
  return !scalarRows && n % 4 === 0 && offsets.every((o) => o % 4 === 0);
}

/**
 * Defs of a row kernel moving elements 1 or 4 (`vec4`) at a time: W (the width), VF (f32
 * or vec4<f32>), VX and VP (the dtypes `t` and `tp` at that width), VI (how read-only
 * inputs of dtype `t` are declared) with ld() reading one as a VF, FIRST (the first
 * component of a VF), VU and IOTA (u32 at that width, and 0, 1, 2, 3 as one) and HFNS
 * (the helpers above). Four f16 inputs load as two u32s (unpacked exactly): on llvmpipe a
 * 16-bit component costs more than a 32-bit one.
 */
export function rowWidth(vec4: boolean, t: string, tp = "f32"): Defs {
  const at = (d: string) => vec4 ? `vec4<${d}>` : d;
  const packed = vec4 && t === "f16";
  const vi = packed ? "vec2<u32>" : at(t);
  const ld = packed ? "vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y))" : `${at("f32")}(v)`;
  return {
    W: vec4 ? 4 : 1,
    VF: at("f32"),
    VX: at(t),
    VP: at(tp),
    VI: vi,
    FIRST: vec4 ? ".x" : "",
    VU: at("u32"),
    IOTA: vec4 ? "vec4<u32>(0u, 1u, 2u, 3u)" : "0u",
    HFNS: `${HELPERS[vec4 ? 4 : 1]}\nfn ld(v: ${vi}) -> ${at("f32")} { return ${ld}; }`,
  };
}

/** Records a row kernel over `rows` rows of `n` elements. */
export function rowDispatch(
  name: string,
  source: string,
  n: number,
  defs: Defs,
  bindings: Binding[],
  params: number[],
  rows: number,
): void {
  const thread = forced
    ? forced === "thread"
    : n <= THREAD_ROWS || (gpu().isSoftware && n <= SOFTWARE_THREAD_ROWS);
  if (thread) {
    const k = kernel(name, threadMode + source + rowEntry, { ...defs, WG: THREAD_ROWS, LANES: 1 });
    dispatch(k, bindings, params, Math.ceil(rows / THREAD_ROWS));
  } else {
    const wg = n <= 128 ? 128 : 256;
    const k = kernel(name, wgMode + source + rowEntry, { ...defs, WG: wg, LANES: wg });
    dispatch(k, bindings, params, rows);
  }
}

// What any WGSL kernel can reach on this adapter, the ceilings the speed targets meet: FMAs
// from registers alone (no loads), storage reads, a vec4 streaming copy (the best an
// elementwise op can do), and the fixed cost of one dispatch. On a CPU rasteriser these say
// whether a gap to PyTorch is the kernels' or the adapter's.
import { kernel } from "../src/gpu/kernel.ts";
import { dispatch, sync } from "../src/gpu/queue.ts";
import { Tensor } from "../src/tensor/mod.ts";
import { bestMs, fmt, table } from "./timing.ts";

const WG = 64;
// Each invocation: ITERS iterations of 8 independent vec4 FMAs (under llvmpipe's loop cap).
const ITERS = 4096;
const FMA_SRC = `
@group(0) @binding(1) var<storage, read_write> O: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let x = vec4<f32>(f32(id.x) * 1e-9);
  let y = vec4<f32>(0.999);
  var a0 = x; var a1 = x + 1.0; var a2 = x + 2.0; var a3 = x + 3.0;
  var a4 = x + 4.0; var a5 = x + 5.0; var a6 = x + 6.0; var a7 = x + 7.0;
  for (var i = 0u; i < pu(0u); i++) {
    a0 = fma(a0, y, x); a1 = fma(a1, y, x); a2 = fma(a2, y, x); a3 = fma(a3, y, x);
    a4 = fma(a4, y, x); a5 = fma(a5, y, x); a6 = fma(a6, y, x); a7 = fma(a7, y, x);
  }
  O[id.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}`;
// Each invocation reads R consecutive vec4s: reads only (one vec4 written per invocation).
const R = 16;
const READ_SRC = `
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let inv = id.x;
  var s = vec4<f32>(0.0);
  for (var j = 0u; j < ${R}u; j++) { s += A[inv * ${R}u + j]; }
  O[inv] = s;
}`;
const COPY_SRC = `
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let inv = id.x;
  for (var j = 0u; j < 4u; j++) { O[inv * 4u + j] = A[inv * 4u + j]; }
}`;
const EMPTY_SRC = `
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(1)
fn main() { O[0] = f32(pu(0u)); }`;

/** Rows of the ceiling table: what was measured, the figure and its unit. */
export async function ceilingSuite(): Promise<string> {
  const rows: string[][] = [];
  const add = (what: string, value: number, unit: string, note: string) =>
    rows.push([what, fmt(value), unit, note]);

  const groups = 256, inv = groups * WG;
  const out = Tensor.empty([inv * 4], "f32", "ceiling out");
  const fma = kernel("ceiling_fma", FMA_SRC);
  const fmaMs = await bestMs({
    run: () => {
      dispatch(fma, [{ buffer: out.buffer, what: "out" }], [ITERS], groups);
      return sync();
    },
    dispose: () => {},
  });
  add("FMA from registers", (inv * ITERS * 8 * 4 * 2) / fmaMs / 1e6, "GFLOP/s", "no loads");

  const bytes = 64 * 2 ** 20, vec4s = bytes / 16;
  const a = Tensor.empty([bytes / 4], "f32", "ceiling in");
  const o = Tensor.empty([bytes / 4], "f32", "ceiling copy");
  const bind = [{ buffer: a.buffer, what: "in" }, { buffer: o.buffer, what: "out" }];
  const readGroups = vec4s / R / WG;
  const read = kernel("ceiling_read", READ_SRC);
  const readMs = await bestMs({
    run: () => {
      dispatch(read, bind, [0], readGroups);
      return sync();
    },
    dispose: () => {},
  });
  add("storage reads, vec4", bytes / readMs / 1e6, "GB/s", "64 MiB read");
  const copyGroups = vec4s / 4 / WG;
  const copy = kernel("ceiling_copy", COPY_SRC);
  const copyMs = await bestMs({
    run: () => {
      dispatch(copy, bind, [0], copyGroups);
      return sync();
    },
    dispose: () => {},
  });
  add("streaming copy kernel, vec4", (2 * bytes) / copyMs / 1e6, "GB/s", "64 MiB read + written");

  const n = 200;
  const empty = kernel("ceiling_empty", EMPTY_SRC);
  const emptyMs = await bestMs({
    run: () => {
      for (let i = 0; i < n; i++) dispatch(empty, [{ buffer: out.buffer, what: "out" }], [i], 1);
      return sync();
    },
    dispose: () => {},
  });
  add("one dispatch (1 invocation)", (emptyMs / n) * 1000, "us", `${n} per submit`);
  for (const t of [out, a, o]) t.dispose();
  return table(["ceiling", "figure", "unit", "how"], rows);
}

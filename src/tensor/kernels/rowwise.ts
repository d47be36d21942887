// Shared plumbing for kernels over rows of the last axis. Long rows on real GPUs get a
// workgroup each; short rows, and rows up to 4096 on CPU rasterisers (where barriers are
// costly, and where llvmpipe silently ends a loop after 65,535 iterations), get one
// invocation each. Kernels see the same functions either way (row_index, row_lane,
// wg_sum, wg_max, wg_welford) and stride their loops by LANES.
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
/** Forces one mode (tests cover both on any adapter; benchmarks compare them). */
export function setRowMode(mode: "thread" | "workgroup" | null): void {
  forced = mode;
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

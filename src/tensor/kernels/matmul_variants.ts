// Matmul kernel variants (tile shapes) and the choice between them for an output shape: a
// cost model of llvmpipe on CPU rasterisers, workgroup-memory tiling on real GPUs.
import { gpu } from "../../gpu/device.ts";

/** A kernel family and its tile shape: each invocation computes tm x tn outputs. */
export interface MatmulVariant {
  name: string;
  kind: "reg" | "tiled";
  tm: number;
  tn: number;
  wx: number;
  wy: number;
}

export const VARIANTS: MatmulVariant[] = [
  { name: "reg32x32", kind: "reg", tm: 32, tn: 32, wx: 8, wy: 4 },
  { name: "reg32x16", kind: "reg", tm: 32, tn: 16, wx: 8, wy: 8 },
  { name: "reg16x16", kind: "reg", tm: 16, tn: 16, wx: 8, wy: 8 },
  { name: "reg8x16", kind: "reg", tm: 8, tn: 16, wx: 8, wy: 8 },
  { name: "reg4x8", kind: "reg", tm: 4, tn: 8, wx: 8, wy: 8 },
  { name: "tiled4x4", kind: "tiled", tm: 4, tn: 4, wx: 16, wy: 16 },
  { name: "tiled8x8", kind: "tiled", tm: 8, tn: 8, wx: 16, wy: 16 },
];

let chosen: MatmulVariant | null = null;
/** Forces a variant (tests, benchmarks); null restores the default choice. */
export function setMatmulVariant(v: MatmulVariant | null): void {
  chosen = v;
}

// llvmpipe runs the wx invocations of a workgroup row in lockstep as SIMD lanes and turns
// every storage load into a lane-by-lane loop. Per value of K an invocation does tm*tn FMAs
// and (tm + tn) / 4 vec4 loads; a vec4 load costs about 4 * LOAD_COST FMAs (fitted to the
// measured 24, 27 and 32 GFLOP/s of the 16x16, 32x16 and 32x32 tiles at 1024^3).
const LOAD_COST = 9;

/** Modelled llvmpipe time of a register-blocked variant on batch x [m, n] outputs. */
function softwareCost(v: MatmulVariant, m: number, n: number, batch: number): number {
  const lanes = batch * Math.ceil(m / v.tm) * Math.ceil(n / (v.wx * v.tn)) * v.wx;
  const groups = batch * Math.ceil(m / (v.wy * v.tm)) * Math.ceil(n / (v.wx * v.tn));
  const threads = navigator.hardwareConcurrency || 1;
  const work = lanes * (v.tm * v.tn + LOAD_COST * (v.tm + v.tn));
  // Workgroups are spread over the rasteriser's threads: too few leave threads idle.
  return work / groups * Math.ceil(groups / threads);
}

/**
 * The variant for a batch x [m, n] output. Register blocking wins on CPU rasterisers (the
 * tile that minimises the cost model: big tiles for big outputs, small ones to keep every
 * thread busy on small outputs), workgroup-memory tiling on real GPUs.
 */
export function matmulVariant(m = 1024, n = 1024, batch = 1): MatmulVariant {
  if (chosen) return chosen;
  if (!gpu().isSoftware) return VARIANTS.find((v) => v.name === "tiled8x8")!;
  let best = VARIANTS[0], bestCost = Infinity;
  for (const v of VARIANTS) {
    if (v.kind !== "reg") continue;
    const c = softwareCost(v, m, n, batch);
    if (c < bestCost) [best, bestCost] = [v, c];
  }
  return best;
}

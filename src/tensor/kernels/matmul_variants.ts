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

let forcedSplits: number | null = null;
/** Forces the number of K slices on software adapters (tests, benchmarks); null: the model's. */
export function setSplitK(splits: number | null): void {
  forcedSplits = splits;
}

// llvmpipe runs the wx invocations of a workgroup row in lockstep as SIMD lanes and turns
// every storage load into a lane-by-lane loop. Per value of K an invocation does tm*tn FMAs
// and (tm + tn) / 4 vec4 loads; a vec4 load costs about 4 * LOAD_COST FMAs (fitted to the
// measured 24, 27 and 32 GFLOP/s of the 16x16, 32x16 and 32x32 tiles at 1024^3).
const LOAD_COST = 9;
// One more dispatch, in the same units: 40-90 us each measured on llvmpipe (a 1-element
// kernel, 200-1000 in one submit), where the model's units ran at ~1.3e9/s (1024^3).
const DISPATCH_COST = 1e5;

/**
 * Modelled llvmpipe time of a register-blocked variant on batch x [m, n] outputs over K = k,
 * with K cut into `splits` slices run side by side and summed by a second pass.
 */
function softwareCost(
  v: MatmulVariant,
  m: number,
  n: number,
  k: number,
  batch: number,
  splits = 1,
): number {
  const b = batch * splits;
  // Only lanes with outputs count: on small outputs (n = 64) a 32x32 tile leaves 6 of 8
  // lanes idle and still beats 32x16 and 32x8, whose extra loads cost more than the idle
  // lanes' FMAs (measured at [930 x 64] and [64 x 64] outputs).
  const lanes = b * Math.ceil(m / v.tm) * Math.ceil(n / v.tn);
  const groups = b * Math.ceil(m / (v.wy * v.tm)) * Math.ceil(n / (v.wx * v.tn));
  const threads = navigator.hardwareConcurrency || 1;
  const work = lanes * (v.tm * v.tn + LOAD_COST * (v.tm + v.tn)) * Math.ceil(k / splits);
  // Workgroups are spread over the rasteriser's threads: too few leave threads idle.
  const products = work / groups * Math.ceil(groups / threads);
  if (splits === 1) return products;
  // The sum pass: per 4 outputs, `splits` vec4 loads and a store, spread over the threads.
  const sum = (m * n / 4) * (splits + 1) * 4 * LOAD_COST / threads;
  return products + sum + DISPATCH_COST;
}

/**
 * The variant for a batch x [m, n] output over K = k. Register blocking wins on CPU
 * rasterisers (the tile that minimises the cost model, with split-K where that keeps more
 * threads busy), workgroup-memory tiling on real GPUs.
 */
export function matmulVariant(m = 1024, n = 1024, batch = 1, k = 1024): MatmulVariant {
  return matmulPlan(m, n, k, batch).variant;
}

/** K slice counts split-K tries: up to enough for every thread at any tile, few to sum. */
const SPLITS = [1, 2, 4, 8, 16];

/**
 * The variant and the number of K slices for batch x [m, n] outputs over K = k. Split-K
 * (register-blocked, unbatched, n % 4 == 0) pays where the output is too small to keep
 * every thread busy with big tiles and K is long: weight gradients contracting over tokens.
 */
export function matmulPlan(
  m: number,
  n: number,
  k: number,
  batch = 1,
): { variant: MatmulVariant; splits: number } {
  if (!gpu().isSoftware) {
    return { variant: chosen ?? VARIANTS.find((v) => v.name === "tiled8x8")!, splits: 1 };
  }
  const canSplit = batch === 1 && n % 4 === 0 && (chosen?.kind ?? "reg") === "reg";
  const splits = !canSplit ? [1] : forcedSplits !== null ? [forcedSplits] : SPLITS;
  let best = { variant: VARIANTS[0], splits: 1 }, bestCost = Infinity;
  for (const v of chosen ? [chosen] : VARIANTS.filter((v) => v.kind === "reg")) {
    for (const s of splits) {
      const c = softwareCost(v, m, n, k, batch, s);
      if (c < bestCost) [best, bestCost] = [{ variant: v, splits: s }, c];
    }
  }
  return best;
}

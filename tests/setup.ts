// Shared test setup: opens the GPU once per test module, turns on NaN poisoning (so any
// output element a kernel fails to write shows up as NaN), and provides a seeded PRNG,
// readback and comparison helpers. Every test gets fresh random inputs; on failure the
// seed is printed, and KADAPTER_SEED=<seed> reruns the same inputs.
import { gpu, initGpu } from "../src/gpu/device.ts";
import { Rng as BaseRng } from "../src/nn/init.ts";
import {
  cast,
  contiguous,
  liveTensors,
  noGrad,
  setPoison,
  setRowMode,
  Tensor,
  tidy,
} from "../src/tensor/mod.ts";
import { type Nd, numel } from "./reference.ts";

await initGpu();
setPoison(true);

export const hasF16 = gpu().hasF16;

const envSeed = Deno.env.get("KADAPTER_SEED");
const runSeed = envSeed ? Number(envSeed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

/** The project's seeded PRNG (mulberry32, Box-Muller) with helpers for test inputs. */
export class Rng extends BaseRng {
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  /** An integer in [lo, hi), or in [0, lo) when hi is omitted (as the base class). */
  override int(lo: number, hi?: number): number {
    return hi === undefined ? super.int(lo) : lo + Math.floor(this.next() * (hi - lo));
  }
  // Generated values are f32-representable, so the reference sees exactly the GPU's inputs.
  /** Standard normal values of `shape`, times `scale`. */
  randn(shape: readonly number[], scale = 1): Nd {
    return this.#make(shape, () => scale * this.normal());
  }
  rand(shape: readonly number[], lo: number, hi: number): Nd {
    return this.#make(shape, () => this.uniform(lo, hi));
  }
  #make(shape: readonly number[], f: () => number): Nd {
    const data = new Float64Array(numel(shape));
    for (let i = 0; i < data.length; i++) data[i] = Math.fround(f());
    return { shape: [...shape], data };
  }
  /** Values with |v| in [lo, hi] and a random sign (keeps clear of kinks at 0). */
  awayFromZero(shape: readonly number[], lo: number, hi: number): Nd {
    const x = this.rand(shape, lo, hi);
    x.data.forEach((v, i) => (x.data[i] = this.next() < 0.5 ? -v : v));
    return x;
  }
  ints(n: number, lo: number, hi: number): number[] {
    return Array.from({ length: n }, () => this.int(lo, hi));
  }
}

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Deno.test with a per-test seeded Rng and a leak check: a test must dispose what it made
 * (the helpers below do), so a leaking op shows up as a failure.
 */
export function test(
  name: string,
  fn: (rng: Rng) => Promise<void> | void,
  opts: { ignore?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: opts.ignore,
    fn: async () => {
      const seed = (runSeed ^ hashName(name)) >>> 0;
      const live = liveTensors();
      try {
        await fn(new Rng(seed));
      } catch (e) {
        if (e instanceof Error) {
          e.message += `\n  [test seed ${seed}; rerun with KADAPTER_SEED=${runSeed}]`;
        }
        throw e;
      }
      if (liveTensors() !== live) {
        throw new Error(`${liveTensors() - live} tensors leaked [KADAPTER_SEED=${runSeed}]`);
      }
    },
  });
}

/** Uploads a float64 array as an f32 tensor. */
export function up(x: Nd): Tensor {
  return Tensor.from(x.data, x.shape);
}

/** Values of any tensor (strided view, f16, i32) as float64. */
export async function read(t: Tensor): Promise<Float64Array> {
  const d = noGrad(() => tidy(() => contiguous(t.dtype === "f16" ? cast(t, "f32") : t)));
  try {
    return Float64Array.from(await d.data());
  } finally {
    d.dispose();
  }
}

/** Runs fn in a scope, reads back the tensors it returns, and disposes them. */
export async function run(fn: () => Tensor[]): Promise<Float64Array[]> {
  const ts = tidy(fn);
  try {
    const out: Float64Array[] = [];
    for (const t of ts) out.push(await read(t));
    return out;
  } finally {
    for (const t of ts) t.dispose();
  }
}

export interface Tol {
  atol: number;
  rtol?: number;
}

/**
 * Fails unless |actual - expected| <= atol + rtol * |expected| everywhere (NaN fails, so
 * poisoned, unwritten outputs are caught). Reports the worst element.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: Nd | ArrayLike<number>,
  tol: Tol,
  what = "values",
): void {
  const exp = "data" in expected ? expected.data : expected;
  if (actual.length !== exp.length) {
    throw new Error(`${what}: ${actual.length} values, expected ${exp.length}`);
  }
  const rtol = tol.rtol ?? 0;
  let bad = 0, worst = -1, worstRatio = 0;
  for (let i = 0; i < exp.length; i++) {
    const lim = tol.atol + rtol * Math.abs(exp[i]);
    const err = Math.abs(actual[i] - exp[i]);
    const ok = err <= lim || (actual[i] === exp[i]); // equal infinities pass
    if (!ok) {
      bad++;
      const ratio = Number.isNaN(err) ? Infinity : err / lim;
      if (worst < 0 || ratio > worstRatio) [worst, worstRatio] = [i, ratio];
    }
  }
  if (bad > 0) {
    throw new Error(
      `${what}: ${bad} of ${exp.length} elements out of tolerance (atol ${tol.atol}, ` +
        `rtol ${rtol}); worst at ${worst}: got ${actual[worst]}, expected ${exp[worst]}`,
    );
  }
}

/** Rounds to the nearest f16 value (as a GPU f16 tensor holds it). */
export function f16round(x: Nd): Nd {
  return { shape: [...x.shape], data: Float64Array.from(new Float16Array(x.data)) };
}

export function rms(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, x.length));
}

/**
 * Runs fn once per row-kernel mode (softmax, layer norm, cross-entropy): the adapter picks
 * one by row length, so both are tested whatever the adapter.
 */
export async function forEachRowMode(fn: (mode: string) => Promise<void>): Promise<void> {
  for (const mode of ["thread", "workgroup"] as const) {
    setRowMode(mode);
    try {
      await fn(mode);
    } catch (e) {
      if (e instanceof Error) e.message = `[row mode ${mode}] ${e.message}`;
      throw e;
    } finally {
      setRowMode(null);
    }
  }
}

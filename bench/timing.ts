// Timing and table helpers shared by the benchmark sections.

/** One prepared workload: run() executes it once and resolves when the device is done. */
export interface Run {
  run(): Promise<void>;
  dispose(): void;
}

/**
 * Best wall time in ms over a few runs after one warm-up run (which compiles the shaders).
 * The number of timed runs adapts to the warm-up time so that large shapes run once.
 */
export async function bestMs(r: Run, budgetMs = 4000, maxReps = 5): Promise<number> {
  let t0 = performance.now();
  await r.run();
  const warm = performance.now() - t0;
  const reps = Math.max(1, Math.min(maxReps, Math.floor(budgetMs / warm)));
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    t0 = performance.now();
    await r.run();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Runs a prepared workload, or returns null (with a note) when the contender fails. */
export async function tryBestMs(what: string, prepare: () => Run): Promise<number | null> {
  let r: Run | null = null;
  try {
    r = prepare();
    return await bestMs(r);
  } catch (e) {
    console.error(`  ${what}: failed (${e instanceof Error ? e.message : e})`);
    return null;
  } finally {
    r?.dispose();
  }
}

export const gflops = (flop: number, ms: number | null) => ms === null ? null : flop / ms / 1e6;

export function fmt(x: number | null, digits = 2): string {
  return x === null ? "n/a" : x.toFixed(digits);
}

export function ratio(a: number | null, b: number | null): string {
  return a === null || b === null ? "n/a" : `${(a / b).toFixed(2)}x`;
}

/** A Markdown table (also readable on a terminal). */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...rows.map(line)].join(
    "\n",
  );
}

/** Uniform random values in [-1, 1). */
export function randomData(n: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() * 2 - 1;
  return out;
}

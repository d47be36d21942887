// Kernel profiling: GPU time per kernel family. With timestamp-query every dispatch gets its
// own compute pass whose start and end the GPU stamps; the stamps are resolved at each submit
// and read back when the profile is collected. Without it the queue submits each dispatch
// alone and times the submit: exact on software adapters (llvmpipe runs the work inside
// submit), only the enqueue cost on GPUs that run it later. Profiling changes no results.
import { gpu } from "./device.ts";

/** One kernel family's share of the profiled work. */
export interface KernelTime {
  name: string;
  dispatches: number;
  ms: number;
}

export interface Profile {
  /** How times were taken: GPU timestamps, or the wall time of each dispatch's submit. */
  mode: "timestamp" | "submit";
  kernels: KernelTime[];
  totalMs: number;
}

const CAPACITY = 2048; // dispatches per submit (two stamps each)

interface Recorder {
  mode: Profile["mode"];
  times: Map<string, KernelTime>;
  /** Timestamp mode: the set, the names of the dispatches stamped into it since the last submit. */
  querySet: GPUQuerySet | null;
  names: string[];
  reads: Promise<void>[];
  paused: boolean;
}

let rec: Recorder | null = null;

/**
 * Starts collecting, with timestamps where the adapter has them (or the mode asked for); a
 * running profile restarts.
 */
export function startProfile(mode?: Profile["mode"]): void {
  const g = gpu();
  const stamps = (mode ?? "timestamp") === "timestamp" && g.features.has("timestamp-query");
  rec?.querySet?.destroy();
  rec = {
    mode: stamps ? "timestamp" : "submit",
    times: new Map(),
    querySet: stamps ? g.device.createQuerySet({ type: "timestamp", count: 2 * CAPACITY }) : null,
    names: [],
    reads: [],
    paused: false,
  };
}

/** Leaves work out of the profile (e.g. evaluations) until resumed. */
export function pauseProfile(paused: boolean): void {
  if (rec) rec.paused = paused;
}

/** How the queue should record the next dispatch of `name`, or null when not profiling. */
export function profiledDispatch(name: string):
  | { kind: "timestamp"; writes: GPUComputePassTimestampWrites; full: boolean }
  | { kind: "submit"; done: (ms: number) => void }
  | null {
  if (!rec || rec.paused) return null;
  if (rec.mode === "submit") {
    const r = rec;
    return { kind: "submit", done: (ms) => add(r, name, 1, ms) };
  }
  const i = rec.names.push(name) - 1;
  return {
    kind: "timestamp",
    writes: {
      querySet: rec.querySet!,
      beginningOfPassWriteIndex: 2 * i,
      endOfPassWriteIndex: 2 * i + 1,
    },
    full: rec.names.length === CAPACITY,
  };
}

/** Before a submit: resolves the stamps recorded into `encoder` and schedules their readback. */
export function resolveStamps(encoder: GPUCommandEncoder): (() => void) | null {
  if (!rec?.querySet || rec.names.length === 0) return null;
  const r = rec, names = r.names, n = names.length, device = gpu().device;
  r.names = [];
  const resolved = device.createBuffer({
    size: 16 * n,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    size: 16 * n,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  encoder.resolveQuerySet(r.querySet!, 0, 2 * n, resolved, 0);
  encoder.copyBufferToBuffer(resolved, 0, staging, 0, 16 * n);
  // After the submit: read the stamps when they land.
  return () => {
    r.reads.push(
      staging.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(staging.getMappedRange());
        for (let i = 0; i < n; i++) add(r, names[i], 1, Number(t[2 * i + 1] - t[2 * i]) / 1e6);
        staging.destroy();
        resolved.destroy();
      }),
    );
  };
}

function add(r: Recorder, name: string, dispatches: number, ms: number): void {
  const t = r.times.get(name) ?? { name, dispatches: 0, ms: 0 };
  t.dispatches += dispatches;
  // A pass the GPU reorders or an adapter's clock wrap can give a negative interval.
  t.ms += Math.max(0, ms);
  r.times.set(name, t);
}

/** Ends the profile (after the caller flushed and synced) and returns it, costliest first. */
export async function stopProfile(): Promise<Profile | null> {
  const r = rec;
  if (!r) return null;
  rec = null;
  await Promise.all(r.reads);
  r.querySet?.destroy();
  const kernels = [...r.times.values()].sort((a, b) => b.ms - a.ms);
  return { mode: r.mode, kernels, totalMs: kernels.reduce((s, k) => s + k.ms, 0) };
}

/** The profile as a table, per step of `steps` profiled optimizer steps. */
export function profileTable(p: Profile, steps: number): string {
  const per = Math.max(1, steps);
  const how = p.mode === "timestamp"
    ? "GPU timestamps"
    : "the wall time of each dispatch's submit (exact on software adapters)";
  const rows = p.kernels.map((k) => [
    k.name,
    (k.dispatches / per).toFixed(1),
    (k.ms / per).toFixed(2),
    `${(100 * k.ms / (p.totalMs || 1)).toFixed(1)}%`,
  ]);
  const head = ["kernel", "dispatches/step", "ms/step", "share"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    `profile over ${steps} steps, from ${how}: ${
      (p.totalMs / per).toFixed(1)
    } ms of kernels per step`,
    line(head),
    ...rows.map(line),
  ].join("\n");
}

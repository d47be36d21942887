// Bind groups, cached: a training step binds the same buffers again and again (the pool
// hands freed buffers out again by size class), and creating a bind group costs tens of
// microseconds of host time per dispatch. Kernels' layouts are declared (src/gpu/kernel.ts)
// with the parameters at a dynamic offset, so one bind group serves every dispatch over the
// same buffers. Entries are keyed on buffer identity (a new buffer never matches an old entry),
// dropped when one of their buffers is destroyed, and least recently used ones evicted.
import { gpu } from "./device.ts";
import type { Kernel } from "./kernel.ts";

const CAPACITY = 4096;

let enabled = true;
/** Turns caching off (a fresh bind group per dispatch) or on; tests and benchmarks compare. */
export function setBindGroupCache(on: boolean): void {
  enabled = on;
  entries.clear();
  byBuffer.clear();
}

/** Cache hits and misses since the process started (tests, benchmarks). */
export const bindGroupStats = { hits: 0, misses: 0 };

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 1;
const entries = new Map<string, { group: GPUBindGroup; ids: number[] }>(); // LRU order
const byBuffer = new Map<number, Set<string>>();
let filler: GPUBuffer | null = null;

function idOf(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, id = nextId++);
  return id;
}

/**
 * The bind group of kernel `k` over `params` (256 bytes at a dynamic offset) and `buffers`
 * at bindings 1, 2, ...
 */
export function bindGroupFor(k: Kernel, params: GPUBuffer, buffers: GPUBuffer[]): GPUBindGroup {
  const n = k.signature.length;
  if (buffers.length > n) {
    throw new Error(`${k.key}: ${buffers.length} storage bindings for ${n} declared`);
  }
  // Bindings the shader declares but never uses, which callers leave out ("auto" layouts
  // drop them), get a placeholder.
  if (buffers.length < n) {
    filler ??= gpu().device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
    buffers = [...buffers, ...Array(n - buffers.length).fill(filler)];
  }
  const bufIds = buffers.map(idOf);
  const key = `${k.signature}:${bufIds.join(",")}`;
  const hit = enabled ? entries.get(key) : undefined;
  if (hit) {
    bindGroupStats.hits++;
    entries.delete(key);
    entries.set(key, hit);
    return hit.group;
  }
  bindGroupStats.misses++;
  const group = gpu().device.createBindGroup({
    layout: k.layout,
    entries: [
      { binding: 0, resource: { buffer: params, offset: 0, size: 256 } },
      ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
    ],
    label: k.key,
  });
  if (!enabled) return group;
  entries.set(key, { group, ids: bufIds });
  for (const id of bufIds) {
    const keys = byBuffer.get(id);
    if (keys) keys.add(key);
    else byBuffer.set(id, new Set([key]));
  }
  if (entries.size > CAPACITY) drop(entries.keys().next().value!);
  return group;
}

function drop(key: string): void {
  const e = entries.get(key);
  if (!e) return;
  entries.delete(key);
  for (const id of e.ids) byBuffer.get(id)?.delete(key);
}

/** Forgets the bind groups over `buffer`, before it is destroyed. */
export function forgetBuffer(buffer: GPUBuffer): void {
  const id = ids.get(buffer);
  if (id === undefined) return;
  for (const key of byBuffer.get(id) ?? []) drop(key);
  byBuffer.delete(id);
}

/** How many bind groups are cached (tests). */
export function bindGroupCacheSize(): number {
  return entries.size;
}

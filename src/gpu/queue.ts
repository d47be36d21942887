// Command batching: dispatches are recorded into one command encoder and submitted
// together; the CPU waits for the GPU only when data is read back.
import { fmtBytes, gpu, GpuError, raiseGpuErrors } from "./device.ts";
import type { Kernel } from "./kernel.ts";
import { bindGroupFor } from "./bind_groups.ts";
import { profiledDispatch, resolveStamps } from "./profile.ts";

const SLOT_WORDS = 64; // 256 bytes: the uniform offset alignment on every adapter
const SLOTS = 512;

/** A storage binding: a buffer and the byte size the kernel may touch. */
export interface Binding {
  buffer: GPUBuffer;
  what: string;
}

let encoder: GPUCommandEncoder | null = null;
let pass: GPUComputePassEncoder | null = null;
let params: GPUBuffer | null = null;
const words = new Uint32Array(SLOT_WORDS * SLOTS);
let slot = 0;

const f32buf = new Float32Array(1);
const u32view = new Uint32Array(f32buf.buffer);
/** Bit pattern of an f32 parameter. */
export function f32bits(x: number): number {
  f32buf[0] = x;
  return u32view[0];
}

function ensurePass(): GPUComputePassEncoder {
  const device = gpu().device;
  if (!params) {
    params = device.createBuffer({
      size: words.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "kernel parameters",
    });
  }
  encoder ??= device.createCommandEncoder();
  pass ??= encoder.beginComputePass();
  return pass;
}

/**
 * Records one dispatch. `grid` counts workgroups; a 1-D count above the per-dimension limit
 * is folded into 2-D (kernels index workgroups through wg_linear).
 */
export function dispatch(
  k: Kernel,
  bindings: Binding[],
  paramWords: number[],
  grid: number | [number, number, number],
): void {
  const g = gpu();
  const maxDim = g.limits.maxComputeWorkgroupsPerDimension;
  let [x, y, z] = typeof grid === "number" ? [grid, 1, 1] : grid;
  if (typeof grid === "number" && x > maxDim) {
    y = Math.ceil(x / maxDim);
    x = Math.ceil(x / y);
  }
  if (x > maxDim || y > maxDim || z > maxDim) {
    throw new GpuError(`${k.key}: grid ${x}x${y}x${z} exceeds ${maxDim} workgroups per dimension`);
  }
  if (x * y * z === 0) return;
  for (const b of bindings) {
    if (b.buffer.size > g.limits.maxStorageBufferBindingSize) {
      throw new GpuError(
        `${k.key}: ${b.what} needs a ${fmtBytes(b.buffer.size)} binding, above this GPU's ` +
          `maxStorageBufferBindingSize (${fmtBytes(g.limits.maxStorageBufferBindingSize)}); ` +
          `use smaller batches or a GPU with larger bindings`,
      );
    }
  }
  if (paramWords.length > SLOT_WORDS) throw new Error(`${k.key}: too many parameters`);
  if (slot === SLOTS) flush();
  const prof = profiledDispatch(k.name);
  if (prof?.kind === "submit") flush();
  let p = ensurePass();
  if (prof?.kind === "timestamp") {
    // A pass of its own, stamped at both ends.
    p.end();
    p = pass = encoder!.beginComputePass({ timestampWrites: prof.writes });
  }
  words.set(paramWords, slot * SLOT_WORDS);
  const offset = slot * SLOT_WORDS * 4;
  slot++;
  p.setPipeline(k.pipeline);
  // The parameters' slot is the bind group's dynamic offset, so bind groups are reused.
  p.setBindGroup(0, bindGroupFor(k, params!, bindings.map((b) => b.buffer)), [offset]);
  p.dispatchWorkgroups(x, y, z);
  if (prof?.kind === "timestamp") {
    p.end();
    pass = null;
    if (prof.full) flush();
  } else if (prof?.kind === "submit") {
    const t = performance.now();
    flush();
    prof.done(performance.now() - t);
  }
}

/** Submits everything recorded so far. */
export function flush(): void {
  if (!encoder) return;
  const g = gpu();
  pass?.end();
  pass = null;
  if (slot > 0) g.device.queue.writeBuffer(params!, 0, words, 0, slot * SLOT_WORDS);
  const stamped = resolveStamps(encoder);
  g.device.queue.submit([encoder.finish()]);
  stamped?.();
  encoder = null;
  slot = 0;
}

/** Copies CPU data into a buffer, after the work already recorded (which may still read it). */
export function upload(buffer: GPUBuffer, byteOffset: number, data: ArrayBufferView): void {
  flush();
  // writeBuffer needs a whole number of 4-byte words.
  const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  gpu().device.queue.writeBuffer(buffer, byteOffset, padded);
}

/** Reads `bytes` bytes from `buffer` at `byteOffset`, waiting for all recorded work. */
export async function download(
  buffer: GPUBuffer,
  byteOffset: number,
  bytes: number,
): Promise<ArrayBuffer> {
  const g = gpu();
  const start = Math.floor(byteOffset / 4) * 4;
  const size = Math.ceil((byteOffset + bytes - start) / 4) * 4;
  const staging = g.device.createBuffer({
    size: Math.max(size, 4),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  ensurePass();
  pass!.end();
  pass = null;
  encoder!.copyBufferToBuffer(buffer, start, staging, 0, size);
  flush();
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    await raiseGpuErrors();
    throw e;
  }
  await raiseGpuErrors();
  const out = staging.getMappedRange().slice(byteOffset - start, byteOffset - start + bytes);
  staging.destroy();
  return out;
}

/** Waits until the GPU has finished all recorded work; raises any GPU error. */
export async function sync(): Promise<void> {
  flush();
  await gpu().device.queue.onSubmittedWorkDone();
  await raiseGpuErrors();
}

// Copy bandwidth, the ceiling for memory-bound ops: a host TypedArray copy and a WebGPU
// buffer-to-buffer copy (on llvmpipe a memcpy inside the submit).
import { gpu } from "../src/gpu/device.ts";
import { sync } from "../src/gpu/queue.ts";
import type { Run } from "./timing.ts";

/** Uint8Array.prototype.set from one `bytes`-long array into another. */
export function hostCopy(bytes: number): Run {
  const src = new Uint8Array(bytes).fill(7), dst = new Uint8Array(bytes);
  return {
    run: () => {
      dst.set(src);
      return Promise.resolve();
    },
    dispose: () => {},
  };
}

/** copyBufferToBuffer of `bytes` between two storage buffers, awaited. */
export function deviceCopy(bytes: number): Run {
  const device = gpu().device;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = device.createBuffer({ size: bytes, usage });
  const dst = device.createBuffer({ size: bytes, usage });
  return {
    run: async () => {
      await sync();
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    },
    dispose: () => {
      src.destroy();
      dst.destroy();
    },
  };
}

// Buffer pool: freed GPU buffers are kept by size class and handed out again, so a training
// step allocates nothing once the pool is warm. It accounts bytes in use and allocated.
import { fmtBytes, gpu, GpuError, scoped } from "./device.ts";
import { forgetBuffer } from "./bind_groups.ts";

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Size classes: powers of two up to 1 MiB, then eighths of a power of two (<= 12.5% slack). */
export function sizeClass(bytes: number): number {
  const n = Math.max(256, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.ceil(Math.log2(n));
  if (p <= 1 << 20) return p;
  const step = p / 16;
  return Math.ceil(n / step) * step;
}

export interface PoolStats {
  bytesInUse: number;
  bytesAllocated: number;
  peakBytesInUse: number;
  peakBytesAllocated: number;
  buffersAllocated: number;
}

class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #ids = new WeakMap<GPUBuffer, number>();
  #nextId = 0;
  stats: PoolStats = {
    bytesInUse: 0,
    bytesAllocated: 0,
    peakBytesInUse: 0,
    peakBytesAllocated: 0,
    buffersAllocated: 0,
  };

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    const { limits } = gpu();
    if (size > limits.maxBufferSize) {
      throw new GpuError(
        `${label}: a buffer of ${fmtBytes(bytes)} exceeds this GPU's maxBufferSize ` +
          `(${fmtBytes(limits.maxBufferSize)}); reduce the batch or sequence length`,
      );
    }
    let buf = this.#free.get(size)?.pop();
    if (!buf) {
      buf = scoped(
        `allocating ${fmtBytes(size)} for ${label} (pool holds ${
          fmtBytes(this.stats.bytesAllocated)
        })`,
        () => gpu().device.createBuffer({ size, usage: USAGE, label }),
      );
      this.#ids.set(buf, this.#nextId++);
      this.stats.bytesAllocated += size;
      this.stats.buffersAllocated++;
      this.stats.peakBytesAllocated = Math.max(
        this.stats.peakBytesAllocated,
        this.stats.bytesAllocated,
      );
    }
    this.stats.bytesInUse += size;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    return buf;
  }

  /**
   * Free lists are kept in descending order of allocation, so acquire hands out the oldest
   * free buffer of the class: which buffer a tensor gets then depends on which are free, not
   * on the order they were freed in, so a training step binds the same buffers every time and
   * finds its bind groups cached (src/gpu/bind_groups.ts).
   */
  release(buf: GPUBuffer): void {
    this.stats.bytesInUse -= buf.size;
    const list = this.#free.get(buf.size);
    if (!list) {
      this.#free.set(buf.size, [buf]);
      return;
    }
    const id = this.#ids.get(buf)!;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#ids.get(list[mid])! > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
  }

  /** Destroys every free buffer (after a peak, or before retrying a failed allocation). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.stats.bytesAllocated -= b.size;
        this.stats.buffersAllocated--;
        forgetBuffer(b);
        b.destroy();
      }
    }
    this.#free.clear();
  }

  resetPeaks(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
    this.stats.peakBytesAllocated = this.stats.bytesAllocated;
  }
}

export const pool = new BufferPool();

// Tensor: a shape and strides over reference-counted GPU storage. Views (reshape,
// transpose, slice, expand) share storage; kernels that need dense input call contiguous().
//
// Ownership: every tensor belongs to the innermost open scope (see scope.ts) and is
// disposed when that scope ends unless it is returned from it or kept. Tensors made outside
// any scope (parameters, optimizer state) live until disposed explicitly.
import { pool } from "../gpu/pool.ts";
import { download, upload } from "../gpu/queue.ts";
import { register } from "./scope.ts";
import { fillBuffer } from "./kernels/fill.ts";
import type { Node } from "./autograd.ts";

export type DType = "f32" | "f16" | "i32";
export const BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4 };

/** GPU memory shared by a tensor and its views. */
export class Storage {
  refs = 1;
  /** For integer data uploaded from the CPU: the values, so scatter plans need no readback. */
  host: Int32Array | null = null;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
  release(): void {
    if (--this.refs === 0) pool.release(this.buffer);
  }
}

let live = 0;
let poison = false;
/** Tests: fill every new tensor with NaN (all-ones bits), so unwritten outputs show. */
export function setPoison(on: boolean): void {
  poison = on;
}

/** Number of tensors not yet disposed (leak checks). */
export function liveTensors(): number {
  return live;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export class Tensor {
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor, when it was recorded. */
  node: Node | null = null;
  name = "";
  #disposed = false;

  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly strides: readonly number[] = contiguousStrides(shape),
    readonly offset = 0,
  ) {
    live++;
    register(this);
  }

  /** A new dense tensor with uninitialised storage from the pool. */
  static empty(shape: readonly number[], dtype: DType = "f32", what = "tensor"): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`bad shape [${shape}] for ${what}`);
    }
    const bytes = Math.max(4, numel(shape) * BYTES[dtype]);
    const buf = pool.acquire(bytes, `${what} [${shape}] ${dtype}`);
    if (poison) {
      try {
        fillBuffer(buf, Math.ceil(bytes / 4), "i32", -1);
      } catch (e) {
        pool.release(buf);
        throw e;
      }
    }
    return new Tensor(new Storage(buf, bytes), shape, dtype);
  }

  /** Uploads CPU data (f32 or i32; f16 tensors are made by casting). */
  static from(data: ArrayLike<number>, shape: readonly number[], dtype: "f32" | "i32" = "f32") {
    if (data.length !== numel(shape)) {
      throw new Error(`${data.length} values do not fill shape [${shape}]`);
    }
    const t = Tensor.empty(shape, dtype, "upload");
    const arr = dtype === "f32" ? Float32Array.from(data) : Int32Array.from(data);
    if (arr instanceof Int32Array) t.storage.host = arr;
    if (arr.length > 0) upload(t.storage.buffer, 0, arr);
    return t;
  }

  get size(): number {
    return numel(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this.#disposed;
  }
  get buffer(): GPUBuffer {
    if (this.#disposed) throw new Error(`use of a disposed tensor [${this.shape}]`);
    return this.storage.buffer;
  }

  isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    return this.shape.every((d, i) => d === 1 || c[i] === this.strides[i]);
  }

  /** A view sharing this tensor's storage. */
  view(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    this.storage.refs++;
    return new Tensor(this.storage, shape, this.dtype, strides, offset);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    live--;
    this.storage.release();
  }

  /** Host copy of a dense tensor's values (waits for the GPU). */
  async data(): Promise<Float32Array | Int32Array> {
    if (!this.isContiguous() || this.dtype === "f16") {
      throw new Error("data() needs a dense f32/i32 tensor: use read() from ops");
    }
    const bytes = this.size * 4;
    const raw = await download(this.buffer, this.offset * 4, bytes);
    return this.dtype === "i32" ? new Int32Array(raw) : new Float32Array(raw);
  }

  /**
   * Copies host values into a dense f32 or f16 tensor (f16 rounds them), after the work
   * already recorded. i32 tensors are not written: their host copy would go stale.
   */
  write(values: Float32Array): void {
    const b = BYTES[this.dtype], end = (this.offset + this.size) * b;
    // Uploads are whole 4-byte words: an unaligned start, or a padded end inside the storage,
    // would touch a neighbour's values.
    if (
      this.dtype === "i32" || !this.isContiguous() || values.length !== this.size ||
      (this.offset * b) % 4 !== 0 || (end % 4 !== 0 && end < this.storage.bytes)
    ) {
      throw new Error(`cannot write ${values.length} values into ${this}`);
    }
    upload(this.buffer, this.offset * b, this.dtype === "f16" ? new Float16Array(values) : values);
  }

  /** Waits for the work and writes recorded so far; written values free their host copies. */
  async sync(): Promise<void> {
    // A read-back submits the queued writes and waits for them.
    await download(this.buffer, 0, 4);
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape}]${this.name ? " " + this.name : ""})`;
  }
}

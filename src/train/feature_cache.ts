// The frozen encoder's hidden states kept per example (--cache-features), so that a run over
// several epochs runs the encoder once per example. Each example's block is [states, length,
// hidden] values, rounded to f16 or kept f32, in memory (in chunks) or in one file (written
// whole under a temporary name, then renamed; read back per batch). A batch comes back as
// one f32 array per state, [batch, seqLen, hidden], zero past each example's stored length.
import { writeFileAtomic } from "../formats/atomic.ts";

export type CacheDtype = "f16" | "f32";

const BYTES: Record<CacheDtype, number> = { f16: 2, f32: 4 };

/** What a cache holds: each example's stored length (tokens), and what a token carries. */
export interface CacheLayout {
  lengths: ArrayLike<number>;
  states: number;
  hidden: number;
  dtype: CacheDtype;
}

/** Values a chunk of a memory cache holds at most (256 MB of f16); a block never straddles. */
const CHUNK = 2 ** 27;

type Values = Float16Array | Float32Array;

/** The tokens (positions) a cache of this layout stores. */
export function cachedTokens(l: CacheLayout): number {
  let tokens = 0;
  for (let i = 0; i < l.lengths.length; i++) tokens += l.lengths[i];
  return tokens;
}

/** The bytes a cache of this layout takes. */
export function cacheBytes(l: CacheLayout): number {
  return cachedTokens(l) * l.states * l.hidden * BYTES[l.dtype];
}

/** Where the blocks live: read(i) is a view valid until the next read. */
interface Blocks {
  write(i: number, block: Float32Array): void;
  read(i: number): Values;
  close(): void;
}

/** Element offsets of the examples' blocks (one past the end last). */
function offsets(l: CacheLayout): Float64Array {
  const out = new Float64Array(l.lengths.length + 1);
  for (let i = 0; i < l.lengths.length; i++) {
    out[i + 1] = out[i] + l.lengths[i] * l.states * l.hidden;
  }
  return out;
}

/** `n` values (default: all) at the start of `buffer`. */
function values(dtype: CacheDtype, buffer: ArrayBuffer, n?: number): Values {
  return dtype === "f16" ? new Float16Array(buffer, 0, n) : new Float32Array(buffer, 0, n);
}

function memoryBlocks(l: CacheLayout): Blocks {
  const size = (i: number) => l.lengths[i] * l.states * l.hidden;
  const chunkOf = new Int32Array(l.lengths.length), at = new Float64Array(l.lengths.length);
  const sizes: number[] = [0];
  for (let i = 0; i < l.lengths.length; i++) {
    if (sizes.at(-1)! + size(i) > CHUNK && sizes.at(-1)! > 0) sizes.push(0);
    chunkOf[i] = sizes.length - 1;
    at[i] = sizes[sizes.length - 1];
    sizes[sizes.length - 1] += size(i);
  }
  const chunks = sizes.map((n) => values(l.dtype, new ArrayBuffer(n * BYTES[l.dtype])));
  const view = (i: number) => chunks[chunkOf[i]].subarray(at[i], at[i] + size(i));
  return {
    // Float16Array.set rounds to nearest even, as a GPU cast to f16 does.
    write: (i, block) => view(i).set(block),
    read: view,
    close: () => chunks.splice(0),
  };
}

function diskBlocks(l: CacheLayout, file: Deno.FsFile): Blocks {
  const off = offsets(l), b = BYTES[l.dtype];
  let scratch = new ArrayBuffer(0);
  const seek = (i: number) => file.seekSync(off[i] * b, Deno.SeekMode.Start);
  return {
    write(i, block) {
      const v = l.dtype === "f16" ? new Float16Array(block) : block;
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      seek(i);
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
    },
    read(i) {
      const n = (off[i + 1] - off[i]) * b;
      if (scratch.byteLength < n) scratch = new ArrayBuffer(n);
      const bytes = new Uint8Array(scratch, 0, n);
      seek(i);
      for (let done = 0; done < n;) {
        const got = file.readSync(bytes.subarray(done));
        if (got === null) throw new Error("the feature cache file ended early");
        done += got;
      }
      return values(l.dtype, scratch, n / b);
    },
    close: () => file.close(),
  };
}

/** Puts one example's block [states, length, hidden] into the cache being filled. */
export type Put = (i: number, block: Float32Array) => void;

export class FeatureCache {
  readonly #blocks: Blocks;
  readonly #path: string | null;

  private constructor(readonly layout: CacheLayout, blocks: Blocks, path: string | null) {
    this.#blocks = blocks;
    this.#path = path;
  }

  /**
   * A cache in memory (`path` null) or in the file `path`, filled by `fill`, which must put
   * every example's block. A file is written under a temporary name and renamed when full,
   * so an interrupted fill leaves no cache behind.
   */
  static async build(
    layout: CacheLayout,
    path: string | null,
    fill: (put: Put) => Promise<void>,
  ): Promise<FeatureCache> {
    const n = layout.lengths.length, filled = new Uint8Array(n);
    const guarded = (blocks: Blocks): Put => (i, block) => {
      const want = layout.states * layout.lengths[i] * layout.hidden;
      if (block.length !== want) {
        throw new Error(`feature cache: example ${i} has ${block.length} values, not ${want}`);
      }
      blocks.write(i, block);
      filled[i] = 1;
    };
    const check = () => {
      const missing = filled.indexOf(0);
      if (missing >= 0) throw new Error(`feature cache: example ${missing} was never filled`);
    };
    if (path === null) {
      const blocks = memoryBlocks(layout);
      await fill(guarded(blocks));
      check();
      return new FeatureCache(layout, blocks, null);
    }
    await writeFileAtomic(path, async (file) => {
      await fill(guarded(diskBlocks(layout, file)));
      check();
    });
    return new FeatureCache(layout, diskBlocks(layout, await Deno.open(path)), path);
  }

  get bytes(): number {
    return cacheBytes(this.layout);
  }

  /** One array per state, [indices.length, seqLen, hidden], zero past each stored length. */
  assemble(indices: readonly number[], seqLen: number): Float32Array[] {
    const { states: k, hidden: h, lengths } = this.layout;
    const out = Array.from({ length: k }, () => new Float32Array(indices.length * seqLen * h));
    indices.forEach((i, row) => {
      const len = lengths[i];
      if (len > seqLen) {
        throw new Error(`feature cache: example ${i} holds ${len} tokens, past ${seqLen}`);
      }
      const block = this.#blocks.read(i), n = len * h;
      for (let s = 0; s < k; s++) out[s].set(block.subarray(s * n, (s + 1) * n), row * seqLen * h);
    });
    return out;
  }

  /** Frees the memory, or closes and deletes the file. */
  close(): void {
    this.#blocks.close();
    if (this.#path) {
      try {
        Deno.removeSync(this.#path);
      } catch {
        // Already gone: nothing to free.
      }
    }
  }
}

/** A memory cache's bound when no --cache-limit is given and free memory cannot be read. */
const FALLBACK_LIMIT = 2e9;

/** The memory available now, when the system tells without a prompt (else null). */
function availableMemory(): number | null {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  try {
    if (granted({ name: "sys", kind: "systemMemoryInfo" })) {
      return Deno.systemMemoryInfo().available;
    }
    if (granted({ name: "read", path: "/proc/meminfo" })) {
      const m = /MemAvailable:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/meminfo"));
      if (m) return Number(m[1]) * 1024;
    }
  } catch {
    // Not Linux, or not readable: the fixed bound.
  }
  return null;
}

/** The most a memory cache may take, and what set it: `limit` bytes, or half what is free. */
export function memoryLimit(limit?: number): { bytes: number; source: string } {
  if (limit !== undefined) return { bytes: limit, source: "--cache-limit" };
  const free = availableMemory();
  return free === null
    ? { bytes: FALLBACK_LIMIT, source: "the default --cache-limit" }
    : { bytes: free / 2, source: "half the memory available" };
}

/** "15.2 MB" (decimal units, as --cache-limit takes them). */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toLocaleString("en-US", { maximumFractionDigits: 1 })} MB`;
}

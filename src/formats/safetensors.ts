// safetensors: a u64 little-endian header length N, N bytes of UTF-8 JSON
// {name: {dtype, shape, data_offsets: [begin, end)}} with an optional "__metadata__" string map,
// then the data section the offsets point into.
//
// The reader is strict: a file validates whole when opened (layout, dtypes, byte counts, unique
// names) or is refused with a SafetensorsError naming the file and the tensor. It reads the
// header with one small read and each tensor's bytes only when asked, so a 1.4 GB model streams
// tensor by tensor. Files are little-endian, as is every machine Deno runs on, so typed arrays
// view the bytes directly.
//
// The writer lays a file out as the reference implementation does (dtypes by descending
// alignment, then names in order; header space-padded to 8 bytes) and writes atomically.
import { readExact } from "./read_exact.ts";
import { UserError } from "../errors.ts";
import { isObject, parseJsonStrict } from "./json.ts";
import { writeAll, writeFileAtomic } from "./atomic.ts";
import { readAhead } from "./read_ahead.ts";

export class SafetensorsError extends UserError {
}

/** Element sizes, in the reference's dtype order (its writer sorts by it, descending). */
const DTYPES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;
export type SafetensorsDType = keyof typeof DTYPES;
const RANK = new Map(Object.keys(DTYPES).map((d, i) => [d, i]));

/** The reference's limit: a larger header is a corrupt file, not a real model. */
export const MAX_HEADER_BYTES = 100_000_000;
const FIELDS = ["dtype", "shape", "data_offsets"];

export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range [begin, end) within the data section. */
  begin: number;
  end: number;
}

/** Bytes of `shape` elements of `elementBytes` each; Infinity past 2^53 (never a real file). */
function byteLength(shape: readonly number[], elementBytes: number): number {
  if (shape.includes(0)) return 0;
  let n = elementBytes;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return n;
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

// Names and values come from untrusted files: keep messages short whatever they hold.
function show(x: unknown): string {
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (isObject(x)) return "an object";
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}
const bad = (path: string, msg: string) => new SafetensorsError(`${path}: ${msg}`);
const fmtShape = (s: readonly number[]) =>
  s.length > 8 ? `[${s.slice(0, 8)},... (${s.length} dims)]` : `[${s}]`;

/** Checks a parsed header against a data section of `dataBytes`; throws on any problem. */
function parseHeader(
  path: string,
  header: Uint8Array,
  dataBytes: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(header);
  } catch {
    throw bad(path, "header is not valid UTF-8 (corrupt, or not a safetensors file)");
  }
  let json: unknown;
  try {
    json = parseJsonStrict(text);
  } catch (e) {
    throw bad(path, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw bad(path, `header must be a JSON object, not ${show(json)}`);
  const tensors = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json)) {
    const where = `tensor ${show(name)}`;
    if (name === "__metadata__") {
      if (!isObject(v)) {
        throw bad(path, `__metadata__ must be an object of strings, not ${show(v)}`);
      }
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== "string") {
          throw bad(path, `__metadata__ ${show(k)} must be a string, not ${show(s)}`);
        }
        metadata[k] = s;
      }
      continue;
    }
    if (!isObject(v)) {
      throw bad(path, `${where}: must be an object {dtype, shape, data_offsets}, not ${show(v)}`);
    }
    const extra = Object.keys(v).find((k) => !FIELDS.includes(k));
    if (extra !== undefined) throw bad(path, `${where}: unknown field ${show(extra)}`);
    const { dtype, shape, data_offsets: offsets } = v;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPES, dtype)) {
      throw bad(
        path,
        `${where}: unknown dtype ${show(dtype)} (known: ${Object.keys(DTYPES).join(", ")})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw bad(
        path,
        `${where}: shape must be an array of non-negative integers, not ${show(shape)}`,
      );
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw bad(path, `${where}: data_offsets must be [begin, end] integers, not ${show(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) {
      throw bad(path, `${where}: data_offsets [${begin}, ${end}) end before they begin`);
    }
    const bytes = byteLength(shape, DTYPES[dtype as SafetensorsDType]);
    if (bytes !== end - begin) {
      throw bad(
        path,
        `${where}: ${dtype} ${fmtShape(shape)} needs ${bytes} bytes but data_offsets ` +
          `[${begin}, ${end}) hold ${end - begin}`,
      );
    }
    tensors.set(name, { dtype: dtype as SafetensorsDType, shape, begin, end });
  }
  // Tensors must tile the data section exactly: sorted by offset, each starts where the last
  // ended (zero-byte tensors may share an offset), and the last ends at the end of the file.
  let at = 0, prev = "";
  const byOffset = [...tensors].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  for (const [name, t] of byOffset) {
    const where = `tensor ${show(name)} at [${t.begin}, ${t.end})`;
    if (t.end > dataBytes) {
      throw bad(path, `${where} runs past the ${dataBytes}-byte data section (truncated file?)`);
    }
    if (t.begin < at) {
      throw bad(path, `${where} overlaps tensor ${show(prev)}, which ends at ${at}`);
    }
    if (t.begin > at) throw bad(path, `${where} leaves a gap of ${t.begin - at} bytes before it`);
    at = t.end;
    prev = name;
  }
  if (at !== dataBytes) {
    throw bad(path, `${dataBytes - at} bytes after the last tensor are not covered by any tensor`);
  }
  return { tensors, metadata };
}

/** Reads exactly `n` bytes at `offset` into a fresh (so aligned) buffer. */
async function readAt(
  path: string,
  file: Deno.FsFile,
  offset: number,
  n: number,
  what: string,
): Promise<Uint8Array> {
  let out: Uint8Array | null;
  try {
    out = await readExact(file, offset, n);
  } catch (e) {
    throw bad(path, `${what}: cannot read: ${(e as Error).message}`);
  }
  if (!out) throw bad(path, `${what}: file ended early (changed since it was opened?)`);
  return out;
}

/** An open safetensors file: the validated header, and tensor bytes read on demand. */
export class SafetensorsFile {
  #file: Deno.FsFile | null;
  // Each read is a seek then reads on one handle: chain them so concurrent calls cannot
  // interleave.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    file: Deno.FsFile,
    /** File offset of the data section. */
    readonly dataStart: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.#file = file;
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw bad(this.path, `no tensor ${show(name)}`);
    return t;
  }

  /** The tensor's raw little-endian bytes, in a fresh (so aligned) buffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name), file = this.#file;
    if (!file) throw bad(this.path, "read after close()");
    const where = `tensor ${show(name)}`;
    const run = this.#queue.then(() =>
      readAt(this.path, file, this.dataStart + t.begin, t.end - t.begin, where)
    );
    this.#queue = run.catch(() => {});
    return await run;
  }

  /** Float values as f32; F16 and BF16 widen exactly. */
  async readF32(name: string): Promise<Float32Array> {
    const { dtype } = this.info(name);
    const fail = (msg: string) => bad(this.path, `tensor ${show(name)}${msg}`);
    return await decodeF32(dtype, fail, async () => (await this.readBytes(name)).buffer);
  }

  /** Integer values (ids, masks) as i32; I64 values must fit. */
  async readI32(name: string): Promise<Int32Array> {
    const { dtype } = this.info(name);
    const fail = (msg: string) => bad(this.path, `tensor ${show(name)}${msg}`);
    return await decodeI32(dtype, fail, async () => (await this.readBytes(name)).buffer);
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}

/**
 * Float values of a tensor's little-endian bytes (from `bytes`, read only once the dtype is
 * known to fit) as f32; F16 and BF16 widen exactly. `fail` makes the error from a message
 * that follows the tensor's name. Shared by every weight-file reader.
 */
export async function decodeF32(
  dtype: SafetensorsDType,
  fail: (msg: string) => Error,
  bytes: () => Promise<ArrayBufferLike>,
): Promise<Float32Array> {
  if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
    throw fail(` is ${dtype}; only F32, F16, BF16 read as floats`);
  }
  const b = await bytes();
  if (dtype === "F32") return new Float32Array(b);
  if (dtype === "F16") return Float32Array.from(new Float16Array(b));
  // bfloat16 is the top half of an f32.
  const half = new Uint16Array(b), bits = new Uint32Array(half.length);
  for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
  return new Float32Array(bits.buffer);
}

/** Integer values (ids, masks) as i32, as decodeF32; I64 values must fit. */
export async function decodeI32(
  dtype: SafetensorsDType,
  fail: (msg: string) => Error,
  bytes: () => Promise<ArrayBufferLike>,
): Promise<Int32Array> {
  if (dtype !== "I32" && dtype !== "I64") {
    throw fail(` is ${dtype}; only I32 and I64 read as integers`);
  }
  const b = await bytes();
  if (dtype === "I32") return new Int32Array(b);
  const wide = new BigInt64Array(b), out = new Int32Array(wide.length);
  for (let i = 0; i < wide.length; i++) {
    out[i] = Number(wide[i]);
    if (BigInt(out[i]) !== wide[i]) throw fail(`: value ${wide[i]} at ${i} does not fit i32`);
  }
  return out;
}

/** Opens and validates a safetensors file; reads nothing beyond its header. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw bad(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    const size = (await file.stat()).size;
    if (size < 8) throw bad(path, `${size} bytes is too short for a safetensors file (truncated?)`);
    const n = new DataView((await readAt(path, file, 0, 8, "header")).buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw bad(path, `header length ${n} exceeds 100 MB (corrupt, or not a safetensors file)`);
    }
    const headerBytes = Number(n);
    if (8 + headerBytes > size) {
      throw bad(path, `header length ${headerBytes} runs past the ${size}-byte file (truncated?)`);
    }
    const header = await readAt(path, file, 8, headerBytes, "header");
    const { tensors, metadata } = parseHeader(path, header, size - 8 - headerBytes);
    return new SafetensorsFile(path, file, 8 + headerBytes, tensors, metadata);
  } catch (e) {
    file.close();
    throw e;
  }
}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /**
   * Little-endian element bytes (any typed array), or a function that gives them when the
   * writer reaches this tensor, so tensors can stream from the GPU one at a time.
   */
  data: ArrayBufferView | (() => Promise<ArrayBufferView>);
}

/** Bytes the entry's data must hold. */
export function entryBytes(e: Pick<SafetensorsEntry, "dtype" | "shape">): number {
  return byteLength(e.shape, DTYPES[e.dtype]);
}

/**
 * Writes a safetensors file atomically. Layout as the reference writer: dtypes by descending
 * alignment, then names in order (so every tensor is aligned to its element size).
 */
export async function writeSafetensors(
  path: string,
  entries: readonly SafetensorsEntry[],
  metadata?: Record<string, string>,
): Promise<void> {
  const names = new Set<string>();
  for (const e of entries) {
    const where = `tensor ${show(e.name)}`;
    if (names.has(e.name)) throw bad(path, `${where}: name used twice`);
    if (e.name === "__metadata__") throw bad(path, `${where}: the name is reserved`);
    names.add(e.name);
    if (!Object.hasOwn(DTYPES, e.dtype)) {
      throw bad(path, `${where}: unknown dtype ${show(e.dtype)}`);
    }
    if (!e.shape.every(isCount) || entryBytes(e) === Infinity) {
      throw bad(path, `${where}: bad shape ${show(e.shape)}`);
    }
  }
  const order = [...entries].sort((a, b) =>
    RANK.get(b.dtype)! - RANK.get(a.dtype)! || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  const parts = metadata ? [`"__metadata__":${JSON.stringify(metadata)}`] : [];
  let offset = 0;
  for (const e of order) {
    const end = offset + entryBytes(e);
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape}],` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const header = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  if (header.length - 8 > MAX_HEADER_BYTES) throw bad(path, "header exceeds the 100 MB limit");
  new DataView(header.buffer).setBigUint64(0, BigInt(header.length - 8), true);
  header.set(json, 8);
  await writeFileAtomic(path, async (file) => {
    await writeAll(file, header);
    const ahead = readAhead(
      order,
      entryBytes,
      (e) => typeof e.data === "function" ? e.data() : e.data,
    );
    for (const e of order) {
      const d = await ahead.next();
      if (d.byteLength !== entryBytes(e)) {
        throw bad(
          path,
          `tensor ${show(e.name)}: ${e.dtype} ${fmtShape(e.shape)} needs ${entryBytes(e)} ` +
            `bytes, data has ${d.byteLength}`,
        );
      }
      await writeAll(file, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  });
}

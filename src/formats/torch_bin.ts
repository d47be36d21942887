// PyTorch checkpoints (pytorch_model.bin, *.pt) read without running any code from them.
//
// Two layouts. The zip one (torch >= 1.6): records `<archive>/data.pkl` (the pickled state
// dict), `<archive>/data/<key>` (each storage's raw bytes, stored uncompressed), optionally
// `<archive>/byteorder` ("little" or "big"). The legacy one (torch < 1.6, as the released
// K-Adapter checkpoints from torch 1.3.1): consecutive pickles (magic number, protocol 1001,
// sys_info with little_endian, the state dict, the list of storage keys), then per key an i64
// element count and the storage's bytes. In both, a tensor is
// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` and a storage a
// persistent id ("storage", torch.<Type>Storage, key, location, numel[, view]).
//
// The unpickler (pickle.ts) allows only those globals and OrderedDict. Opening checks every
// tensor against its storage; reads then stream one tensor at a time, materialising views
// (offsets, strides, tensors sharing a storage) as contiguous little-endian bytes.
import { UserError } from "../errors.ts";
import { Global, PickleError, type PyCallable, unpickle } from "./pickle.ts";
import { decodeF32, decodeI32, entryBytes, type SafetensorsDType } from "./safetensors.ts";
import { readAt, recordStart, zipEntries } from "./zip.ts";

export class TorchBinError extends UserError {
}

const STORAGES: Record<string, SafetensorsDType> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};
const elementBytes = (dtype: SafetensorsDType) => entryBytes({ dtype, shape: [1] });

export interface TorchTensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  /** The storage's key, the element offset into it, and the stride of each dimension. */
  storage: string;
  offset: number;
  stride: number[];
}

interface Storage {
  dtype: SafetensorsDType;
  numel: number;
  /** File offset of its first byte; set once the file's layout is read. */
  start: number;
}

class StorageRef {
  constructor(readonly key: string, readonly offset: number) {}
}
class TensorRef {
  constructor(readonly info: TorchTensorInfo) {}
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const show = (s: string) => JSON.stringify(s.length > 80 ? s.slice(0, 77) + "..." : s);

/** Unpickles a state dict, collecting the storages its tensors name. */
function readStateDict(
  path: string,
  bytes: Uint8Array,
  storages: Map<string, Storage>,
  at = 0,
): { tensors: Map<string, TorchTensorInfo>; end: number } {
  const fail = (msg: string) => new TorchBinError(`${path}: ${msg}`);
  const rebuild: PyCallable = ([ref, offset, size, stride]) => {
    if (!(ref instanceof StorageRef) || !isCount(offset)) throw fail("a malformed tensor");
    if (!Array.isArray(size) || !size.every(isCount)) throw fail("a tensor with a bad size");
    if (!Array.isArray(stride) || !stride.every(isCount) || stride.length !== size.length) {
      throw fail("a tensor with bad strides");
    }
    const dtype = storages.get(ref.key)!.dtype;
    return new TensorRef({
      dtype,
      shape: size,
      storage: ref.key,
      offset: ref.offset + offset,
      stride,
    });
  };
  const globals: Record<string, PyCallable> = {
    "torch._utils._rebuild_tensor_v2": rebuild,
    "torch._utils._rebuild_parameter": ([t]) => t,
    "collections.OrderedDict": (args) => {
      if (args.length !== 0) throw fail("an OrderedDict built from arguments");
      return new Map();
    },
  };
  for (const name of Object.keys(STORAGES)) {
    globals[`torch.${name}`] = () => {
      throw fail(`torch.${name} called as a function (corrupt file)`);
    };
  }
  const persistentLoad = (pid: unknown) => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
      throw fail("a persistent id that is not a storage");
    }
    const [, type, key, , numel, view] = pid;
    const storage = type instanceof Global ? type.name.slice("torch.".length) : "";
    const dtype = Object.hasOwn(STORAGES, storage) ? STORAGES[storage] : undefined;
    if (!dtype || typeof key !== "string" || !isCount(numel)) throw fail("a malformed storage");
    const known = storages.get(key);
    if (known && (known.dtype !== dtype || known.numel !== numel)) {
      throw fail(`storage ${show(key)} is named twice with different types or sizes`);
    }
    storages.set(key, { dtype, numel, start: -1 });
    if (view === undefined || view === null) return new StorageRef(key, 0);
    // Legacy view: (view key, element offset, size) of the root storage.
    if (!Array.isArray(view) || !isCount(view[1]) || !isCount(view[2])) {
      throw fail("a malformed storage view");
    }
    if (view[1] + view[2] > numel) throw fail(`a view past the end of storage ${show(key)}`);
    return new StorageRef(key, view[1]);
  };
  const { value, end } = unpickle(bytes, { globals, persistentLoad }, path, at);
  if (!(value instanceof Map)) {
    throw fail("holds no state dict (a dict of tensors at its top level)");
  }
  const tensors = new Map<string, TorchTensorInfo>();
  for (const [k, v] of value) {
    if (typeof k !== "string") throw fail("a state dict key that is not a string");
    if (!(v instanceof TensorRef)) throw fail(`entry ${show(k)} is not a tensor`);
    tensors.set(k, v.info);
  }
  return { tensors, end };
}

/** Whether the strides are C order's (dimensions of size 1 may have any stride). */
function isContiguous({ shape, stride }: TorchTensorInfo): boolean {
  for (let d = shape.length - 1, step = 1; d >= 0; step *= shape[d--]) {
    if (shape[d] !== 1 && stride[d] !== step) return false;
  }
  return true;
}

/** An open checkpoint: its tensors' layouts, their bytes read on demand. */
export class TorchBinFile {
  #file: Deno.FsFile | null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    file: Deno.FsFile,
    readonly tensors: ReadonlyMap<string, TorchTensorInfo>,
    readonly storages: ReadonlyMap<string, Storage>,
    readonly bigEndian: boolean,
  ) {
    this.#file = file;
  }

  info(name: string): TorchTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new TorchBinError(`${this.path}: no tensor ${show(name)}`);
    return t;
  }

  /** The tensor's elements in C order as little-endian bytes, in a fresh buffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name), file = this.#file;
    if (!file) throw new TorchBinError(`${this.path}: read after close()`);
    const es = elementBytes(t.dtype), numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel === 0) return new Uint8Array(0);
    const last = t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
    const start = this.storages.get(t.storage)!.start + t.offset * es;
    const run = this.#queue.then(() => readAt(this.path, file, start, (last + 1) * es));
    this.#queue = run.catch(() => {});
    const span = await run;
    if (this.bigEndian && es > 1) {
      for (let i = 0; i < span.length; i += es) span.subarray(i, i + es).reverse();
    }
    if (isContiguous(t)) return span;
    const out = new Uint8Array(numel * es), index = t.shape.map(() => 0);
    for (let i = 0, at = 0; i < numel; i++) {
      out.set(span.subarray(at * es, at * es + es), i * es);
      for (let d = t.shape.length - 1; d >= 0; d--) {
        at += t.stride[d];
        if (++index[d] < t.shape[d]) break;
        at -= t.stride[d] * t.shape[d];
        index[d] = 0;
      }
    }
    return out;
  }

  async readF32(name: string): Promise<Float32Array> {
    const fail = (msg: string) => new TorchBinError(`${this.path}: tensor ${show(name)}${msg}`);
    return await decodeF32(
      this.info(name).dtype,
      fail,
      async () => (await this.readBytes(name)).buffer,
    );
  }

  async readI32(name: string): Promise<Int32Array> {
    const fail = (msg: string) => new TorchBinError(`${this.path}: tensor ${show(name)}${msg}`);
    return await decodeI32(
      this.info(name).dtype,
      fail,
      async () => (await this.readBytes(name)).buffer,
    );
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}

async function openZip(path: string, file: Deno.FsFile, size: number): Promise<TorchBinFile> {
  const entries = await zipEntries(path, file, size);
  const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    throw new TorchBinError(
      `${path}: a zip, but not one torch.save wrote (no single <archive>/data.pkl)`,
    );
  }
  const prefix = pkl[0].slice(0, -"data.pkl".length);
  const read = async (name: string) => {
    const e = entries.get(name)!;
    return await readAt(path, file, await recordStart(path, file, name, e), e.size);
  };
  let bigEndian = false;
  if (entries.has(prefix + "byteorder")) {
    const order = new TextDecoder().decode(await read(prefix + "byteorder"));
    if (order !== "little" && order !== "big") {
      throw new TorchBinError(`${path}: byteorder ${show(order)} is neither little nor big`);
    }
    bigEndian = order === "big";
  }
  const storages = new Map<string, Storage>();
  const { tensors } = readStateDict(path, await read(pkl[0]), storages);
  for (const [key, s] of storages) {
    const name = `${prefix}data/${key}`, e = entries.get(name);
    if (!e) throw new TorchBinError(`${path}: storage ${show(key)} has no record ${show(name)}`);
    if (e.size !== s.numel * elementBytes(s.dtype)) {
      throw new TorchBinError(
        `${path}: storage ${show(key)} holds ${e.size} bytes, not ${s.numel} ${s.dtype} elements`,
      );
    }
    s.start = await recordStart(path, file, name, e);
    if (s.start + e.size > size) {
      throw new TorchBinError(
        `${path}: storage ${show(key)} runs past the end of the file (truncated?)`,
      );
    }
  }
  return checked(path, file, tensors, storages, bigEndian);
}

const MAGIC = 0x1950a86a20f9469cfc6cn;

async function openLegacy(path: string, file: Deno.FsFile, size: number): Promise<TorchBinFile> {
  const fail = (msg: string) => new TorchBinError(`${path}: ${msg}`);
  // The pickles come first and are small next to the storages: read more until they parse.
  for (let n = Math.min(size, 1 << 20);; n = Math.min(size, n * 8)) {
    const head = await readAt(path, file, 0, n), plain = { globals: {} };
    try {
      const magic = unpickle(head, plain, path);
      if (magic.value !== MAGIC) throw fail("not a PyTorch checkpoint (no magic number)");
      const version = unpickle(head, plain, path, magic.end);
      if (version.value !== 1001) {
        throw fail(`legacy format version ${version.value}; only 1001 is known`);
      }
      const info = unpickle(head, plain, path, version.end);
      const little = info.value instanceof Map ? info.value.get("little_endian") : undefined;
      if (typeof little !== "boolean") throw fail("sys_info without little_endian");
      const storages = new Map<string, Storage>();
      const { tensors, end } = readStateDict(path, head, storages, info.end);
      const keys = unpickle(head, plain, path, end);
      if (!Array.isArray(keys.value)) throw fail("no list of storage keys");
      let at = keys.end;
      for (const key of keys.value) {
        const s = storages.get(key);
        if (!s) throw fail(`storage ${show(String(key))} is listed but no tensor uses it`);
        const count = new DataView((await readAt(path, file, at, 8)).buffer).getBigInt64(0, little);
        if (count !== BigInt(s.numel)) {
          throw fail(`storage ${show(key)} holds ${count} elements, not ${s.numel}`);
        }
        s.start = at + 8;
        at = s.start + s.numel * elementBytes(s.dtype);
        if (at > size) {
          throw fail(`storage ${show(key)} runs past the end of the file (truncated?)`);
        }
      }
      for (const [key, s] of storages) {
        if (s.start < 0) throw fail(`storage ${show(key)} is missing`);
      }
      return checked(path, file, tensors, storages, !little);
    } catch (e) {
      if (!(e instanceof PickleError) || !/ends early/.test(e.message) || n === size) throw e;
    }
  }
}

/** Bytes a read may allocate: far past any real tensor (a stride-0 view could claim more). */
const MAX_TENSOR_BYTES = 2 ** 34;

/** Every tensor's elements lie within its storage, and it fits in memory. */
function checked(
  path: string,
  file: Deno.FsFile,
  tensors: Map<string, TorchTensorInfo>,
  storages: Map<string, Storage>,
  bigEndian: boolean,
): TorchBinFile {
  for (const [name, t] of tensors) {
    if (t.shape.includes(0)) continue;
    if (t.shape.reduce((a, d) => a * d, elementBytes(t.dtype)) > MAX_TENSOR_BYTES) {
      throw new TorchBinError(`${path}: tensor ${show(name)} [${t.shape}] is too large (corrupt?)`);
    }
    const last = t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
    if (last >= storages.get(t.storage)!.numel) {
      throw new TorchBinError(`${path}: tensor ${show(name)} reaches past the end of its storage`);
    }
  }
  return new TorchBinFile(path, file, tensors, storages, bigEndian);
}

/** Opens a PyTorch checkpoint (zip or legacy) and checks its layout; reads no tensor data. */
export async function openTorchBin(path: string): Promise<TorchBinFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new TorchBinError(`${path}: cannot open: ${(e as Error).message}`);
  }
  try {
    const size = (await file.stat()).size;
    const head = await readAt(path, file, 0, Math.min(size, 512));
    if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) {
      return await openZip(path, file, size);
    }
    if (head[0] === 0x80) return await openLegacy(path, file, size);
    if (new TextDecoder().decode(head.subarray(257, 262)) === "ustar") {
      throw new TorchBinError(`${path}: the tar format of PyTorch before 0.4 is not supported`);
    }
    throw new TorchBinError(`${path}: not a PyTorch checkpoint (neither a zip nor a pickle)`);
  } catch (e) {
    file.close();
    throw e;
  }
}

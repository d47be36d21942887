// Named tensor states and safetensors files, as tinygrad's nn/state and MLX's
// load_weights(strict): a state is tensors by name (a module's namedParameters(), or any list);
// loading is strict (every expected tensor present, F32, exact shape, nothing else) and checks
// a whole file before reading any tensor data, so a mismatch never leaves random weights half
// overwritten; writing gives each tensor as one F32 entry, streamed from the GPU when written.
// Only F32 loads here: every file kadapter writes is F32. Hugging Face folders (hf_folder.ts)
// resolve their own names and widen F16/BF16, then write through tensorWriter.
import { UserError } from "../errors.ts";
import { FiniteCheck, type FiniteOptions } from "./finite.ts";
import { BYTES, type Tensor } from "../tensor/tensor.ts";
import {
  openSafetensors,
  type SafetensorsEntry,
  SafetensorsError,
  type SafetensorsFile,
  writeSafetensors,
} from "./safetensors.ts";

/**
 * What a name holds: one tensor, or pieces of consecutive rows of the one stored tensor (a
 * table larger than a storage binding).
 */
export type Target = Tensor | readonly Tensor[];
/** Tensors by name, in order. */
export type State = readonly (readonly [string, Target])[];
/** Each stored tensor's name and shape, as a state expects them. */
export type Shapes = readonly (readonly [string, readonly number[]])[];

export const piecesOf = (t: Target): readonly Tensor[] => Array.isArray(t) ? t : [t as Tensor];
const storedShape = (pieces: readonly Tensor[]): readonly number[] =>
  pieces.length === 1
    ? pieces[0].shape
    : [pieces.reduce((n, t) => n + t.shape[0], 0), ...pieces[0].shape.slice(1)];

/**
 * The stored shape of each name (pieces' rows add up); throws, before any file is read, for a
 * target that cannot take loaded values (not a dense f32/f16 tensor, or ragged pieces).
 */
export function shapesOf(state: State): [string, readonly number[]][] {
  return state.map(([name, target]) => {
    const pieces = piecesOf(target);
    for (const t of pieces) {
      if (t.dtype === "i32" || !t.isContiguous() || (t.offset * BYTES[t.dtype]) % 4 !== 0) {
        throw new Error(`${name}: cannot load weights into ${t} (needs a dense f32/f16 tensor)`);
      }
    }
    const tail = String(pieces[0].shape.slice(1));
    if (pieces.some((t) => String(t.shape.slice(1)) !== tail)) {
      throw new Error(`${name}: pieces of different row shapes`);
    }
    return [name, storedShape(pieces)];
  });
}

/** Writes queue their data until the next GPU submit; drain them every this many bytes. */
const STAGING_BYTES = 256 << 20;

/**
 * A writer of stored values into targets (split over pieces in order) that keeps at most
 * STAGING_BYTES of queued writes, so a large model loads with one tensor in host memory.
 */
export function tensorWriter(
  check?: { finite: FiniteCheck; file: string },
): (target: Target, values: Float32Array, name?: string) => Promise<void> {
  let queued = 0;
  return async (target, values, name = "?") => {
    let at = 0;
    check?.finite.add(check.file, name, piecesOf(target), values);
    for (const t of piecesOf(target)) {
      t.write(values.subarray(at, at += t.size));
      queued += t.size * BYTES[t.dtype];
      if (queued >= STAGING_BYTES) {
        await t.sync();
        queued = 0;
      }
    }
  };
}

/** A file that does not fit a state; `problems` name each tensor. */
export class StateError extends UserError {
  constructor(readonly path: string, readonly problems: string[]) {
    super(`${path}: ${problems.join("; ")}`);
  }
}

/**
 * Every difference between a file's tensors and `expected`: missing names in expected order,
 * then the file's unexpected names and wrong dtypes or shapes in its order (`fileFirst`: the
 * file's problems first).
 */
export function stateProblems(
  file: SafetensorsFile,
  expected: Shapes,
  fileFirst = false,
): string[] {
  const want = new Map(expected), missing: string[] = [], found: string[] = [];
  for (const [name] of expected) if (!file.tensors.has(name)) missing.push(`missing ${name}`);
  for (const [name, info] of file.tensors) {
    const shape = want.get(name);
    if (!shape) found.push(`unexpected ${name}`);
    else if (info.dtype !== "F32" || String(info.shape) !== String(shape)) {
      found.push(`${name} is ${info.dtype} [${info.shape}], the model has F32 [${shape}]`);
    }
  }
  return fileFirst ? [...found, ...missing] : [...missing, ...found];
}

/** Makes a caller's error for a file: its path and the problems (for an unreadable file, one). */
export type StateErrorMaker = (path: string, problems: string[]) => Error;
const stateError: StateErrorMaker = (path, problems) => new StateError(path, problems);

/**
 * Opens a weight file whose tensors are exactly `expected` (names, F32, shapes); otherwise
 * throws `error` with every problem, having read no tensor data.
 */
export async function openChecked(
  path: string,
  expected: Shapes,
  error: StateErrorMaker = stateError,
): Promise<SafetensorsFile> {
  let file: SafetensorsFile;
  try {
    file = await openSafetensors(path);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    const m = e.message, prefix = `${path}: `;
    throw error(path, [m.startsWith(prefix) ? m.slice(prefix.length) : m]);
  }
  const problems = stateProblems(file, expected);
  if (problems.length) {
    file.close();
    throw error(path, problems);
  }
  return file;
}

/**
 * Reads every name of `state` from a file (checked against it) into its tensors, then refuses
 * NaN/Inf values (FiniteCheck, as `error`) unless `opts.allowNonFinite`.
 */
export async function readInto(
  file: SafetensorsFile,
  state: State,
  opts: FiniteOptions = {},
  error: StateErrorMaker = stateError,
): Promise<void> {
  const finite = new FiniteCheck();
  const write = tensorWriter({ finite, file: file.path });
  for (const [name, target] of state) await write(target, await file.readF32(name), name);
  await finite.verify(error, opts);
}

/** Strict load: checks the whole file against `state` (openChecked), then reads it in. */
export async function loadState(
  path: string,
  state: State,
  error: StateErrorMaker = stateError,
  opts: FiniteOptions = {},
): Promise<void> {
  const file = await openChecked(path, shapesOf(state), error);
  try {
    await readInto(file, state, opts, error);
  } finally {
    file.close();
  }
}

/** A target's values as stored: the tensor's, or its pieces' one after another. */
async function storedValues(target: Target): Promise<ArrayBufferView> {
  const pieces = piecesOf(target);
  if (pieces.length === 1) return await pieces[0].data();
  const parts = await Promise.all(pieces.map((t) => t.data()));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * One F32 entry per name, read from the GPU when the writer reaches it; `onTensor` reports
 * each tensor's bytes then.
 */
export function stateEntries(
  state: State,
  onTensor?: (name: string, bytes: number) => void,
): SafetensorsEntry[] {
  return state.map(([name, target]) => {
    const pieces = piecesOf(target);
    return {
      name,
      dtype: "F32" as const,
      shape: storedShape(pieces),
      data: async () => {
        const d = await storedValues(target);
        onTensor?.(name, d.byteLength);
        return d;
      },
    };
  });
}

/** Writes a state to one safetensors file atomically (metadata such as {format: "pt"}). */
export async function saveState(
  path: string,
  state: State,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeSafetensors(path, stateEntries(state), metadata);
}

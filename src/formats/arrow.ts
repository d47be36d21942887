// Reading Arrow data through apache-arrow: IPC files (footer) and streams, and Hugging Face
// `datasets` save_to_disk folders (stream-format shards listed in state.json; a DatasetDict
// has dataset_dict.json and one such folder per split). Everything streams one record batch
// at a time, so a 5.5M-sentence dataset is never held as JS objects at once.
import * as A from "apache-arrow";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { convertHint } from "./convert_hint.ts";
import { checkSchema, DataError, PROBLEM, type Rows, type SchemaName } from "./schemas.ts";

const FILE_MAGIC = "ARROW1";

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** The split names of a DatasetDict folder, or null when `path` is not one. */
export async function splits(path: string): Promise<string[] | null> {
  try {
    const dict = await readJson(join(path, "dataset_dict.json"));
    return dict.splits as string[];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/** A file given as a dataset that is not Arrow (JSON, text): what it looks like, what to run. */
export class NotArrowError extends UserError {}

/**
 * Throws NotArrowError unless `path` starts as an Arrow IPC file ("ARROW1"), a stream (the
 * continuation marker) or a pre-1.0 stream (a small metadata length, so a zero byte).
 * `schema`, when known, picks the data convert format the message names.
 */
async function checkArrowStart(path: string, schema?: SchemaName): Promise<void> {
  using f = await Deno.open(path);
  const head = new Uint8Array(8), n = (await f.read(head)) ?? 0, size = (await f.stat()).size;
  const b = head.subarray(0, n), length = n >= 4 ? new DataView(head.buffer).getInt32(0, true) : 0;
  if (n >= 6 && new TextDecoder().decode(b.subarray(0, 6)) === FILE_MAGIC) return;
  if (n >= 4 && (length === -1 || (length > 0 && length <= size - 4 && b[3] === 0))) return;
  const start = new TextDecoder().decode(b).trimStart();
  const kind = n === 0
    ? "it is empty"
    : /^[[{]/.test(start)
    ? "it starts like JSON"
    : b.includes(0)
    ? "it is binary"
    : "it starts like text";
  throw new NotArrowError(
    `${path} is not an Arrow file (${kind}): datasets are Arrow IPC files or save_to_disk ` +
      `folders; ${convertHint(schema ?? null, path)}`,
  );
}

/**
 * The Arrow files behind `path`: itself for a file; the shards of a save_to_disk folder in
 * state.json's order; for a DatasetDict, those of `split` (which it then requires). A file
 * that is not Arrow is refused here, with the data convert line for `schema`.
 */
export async function datasetFiles(
  path: string,
  split?: string,
  schema?: SchemaName,
): Promise<string[]> {
  if ((await Deno.stat(path)).isFile) {
    await checkArrowStart(path, schema);
    return [path];
  }
  const names = await splits(path);
  if (names) {
    if (split === undefined || !names.includes(split)) {
      throw new DataError(path, "dataset_dict.json", "splits", "split", `pick one of: ${names}`);
    }
    return datasetFiles(join(path, split), undefined, schema);
  }
  const state = await readJson(join(path, "state.json"));
  const files = state._data_files as { filename: string }[] | undefined;
  if (!Array.isArray(files)) {
    throw new DataError(path, "state.json", "_data_files", "missing", "no list of data files");
  }
  return files.map((f) => join(path, f.filename));
}

async function isFileFormat(path: string): Promise<boolean> {
  using f = await Deno.open(path);
  const head = new Uint8Array(FILE_MAGIC.length);
  const n = await f.read(head);
  return n === head.length && new TextDecoder().decode(head) === FILE_MAGIC;
}

/** The record batches of one Arrow IPC file or stream, read lazily. */
export async function* fileBatches(path: string): AsyncGenerator<A.RecordBatch> {
  // The file format needs random access (the footer is at the end): a Node FileHandle gives
  // apache-arrow that without reading the whole file; a stream is read front to back.
  const handle = (await isFileFormat(path)) ? await open(path) : null;
  const reader = handle
    ? await A.RecordBatchReader.from(handle)
    : await A.RecordBatchReader.from((await Deno.open(path)).readable);
  try {
    for await (const batch of reader) yield batch;
  } finally {
    await reader.cancel();
    await handle?.close();
  }
}

/** Every record batch of a dataset (file, stream, save_to_disk folder or DatasetDict split). */
export async function* readBatches(
  path: string,
  split?: string,
  schema?: SchemaName,
): AsyncGenerator<{ file: string; batch: A.RecordBatch }> {
  for (const file of await datasetFiles(path, split, schema)) {
    for await (const batch of fileBatches(file)) yield { file, batch };
  }
}

// Arrow values to plain JS: int64 arrives as bigint, lists as Vectors.
function toJs(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (v instanceof A.Vector) return Array.from(v, toJs);
  return v;
}

/**
 * The rows of a dataset as plain objects of schema `name`, one batch at a time, each
 * checked: a schema or value problem throws a DataError naming the file, the row (0-based
 * within that file) and the field.
 */
export async function* readRows<S extends SchemaName>(
  path: string,
  name: S,
  split?: string,
): AsyncGenerator<Rows[S][]> {
  let current = "", row = 0;
  for await (const { file, batch } of readBatches(path, split, name)) {
    if (file !== current) {
      checkSchema(batch.schema, name, file);
      current = file;
      row = 0;
    }
    const columns = batch.schema.fields.map((f) => [f.name, batch.getChild(f.name)!] as const);
    const rows: Rows[S][] = [];
    for (let i = 0; i < batch.numRows; i++, row++) {
      const obj: Record<string, unknown> = {};
      for (const [n, col] of columns) obj[n] = toJs(col.get(i));
      const bad = PROBLEM[name](obj);
      if (bad) throw new DataError(file, `row ${row}`, bad.field, bad.reason, bad.detail);
      rows.push(obj as unknown as Rows[S]);
    }
    yield rows;
  }
}

/**
 * Rows in a dataset, from the IPC messages' metadata alone: record batch bodies are
 * skipped by seeking, so counting 5.5M rows reads kilobytes, not gigabytes.
 */
export async function countRows(
  path: string,
  split?: string,
  schema?: SchemaName,
): Promise<number> {
  let total = 0;
  for (const file of await datasetFiles(path, split, schema)) total += await countFileRows(file);
  return total;
}

async function countFileRows(path: string): Promise<number> {
  using f = await Deno.open(path);
  const size = (await f.stat()).size;
  const read = (offset: number, n: number) => readExactly(f, path, offset, n);
  let at = 0, end = size;
  if (await isFileFormat(path)) {
    // Magic, padding, then a stream; the footer and its int32 length and magic end the file.
    const tail = await read(size - 10, 4);
    end = size - 10 - new DataView(tail.buffer).getInt32(0, true);
    at = 8;
  }
  let rows = 0;
  while (at + 8 <= end) {
    const prefix = new DataView((await read(at, 8)).buffer);
    // Continuation marker 0xFFFFFFFF then length; pre-1.0 streams have the length alone.
    const continued = prefix.getInt32(0, true) === -1;
    const length = continued ? prefix.getInt32(4, true) : prefix.getInt32(0, true);
    if (length === 0) break;
    at += continued ? 8 : 4;
    const message = A.Message.decode(await read(at, length));
    if (message.isRecordBatch()) rows += Number(message.header().length);
    at += length + message.bodyLength;
  }
  return rows;
}

async function readExactly(
  f: Deno.FsFile,
  path: string,
  offset: number,
  n: number,
): Promise<Uint8Array> {
  await f.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const r = await f.read(buf.subarray(got));
    if (r === null) {
      throw new DataError(path, `byte ${offset}`, "ipc", "truncated", "file ends early");
    }
    got += r;
  }
  return buf;
}

// Reading Arrow data through apache-arrow: IPC files (footer) and streams, and Hugging Face
// `datasets` save_to_disk folders (stream-format shards listed in state.json; a DatasetDict
// has dataset_dict.json and one such folder per split). Everything streams one record batch
// at a time, so a 5.5M-sentence dataset is never held as JS objects at once.
import * as A from "apache-arrow";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { brief, UserError } from "../errors.ts";
import { checkIpc, damagedHint } from "./arrow_ipc_check.ts";
import { rowValues } from "./arrow_values.ts";
import { convertHint } from "./convert_hint.ts";
import { checkSchema, DataError, PROBLEM, type Rows, type SchemaName } from "./schemas.ts";

const FILE_MAGIC = "ARROW1";

// A save_to_disk metadata file (state.json, dataset_dict.json) as an object; not JSON, or
// not an object, is a DataError naming it.
async function readJson(path: string): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DataError(path, "json", "(file)", "not JSON", `not JSON (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DataError(path, "json", "(file)", "not an object", "expected a JSON object");
  }
  return value as Record<string, unknown>;
}

// What `datasets` writes as a shard or split name (data-00000-of-00001.arrow, train): one
// path component, so a state.json cannot point kadapter outside the dataset folder.
const plainName = (name: unknown): name is string =>
  typeof name === "string" && name !== "" && name !== "." && name !== ".." &&
  !/[/\\\0:]/.test(name);

/** The split names of a DatasetDict folder, or null when `path` is not one. */
export async function splits(path: string): Promise<string[] | null> {
  const file = join(path, "dataset_dict.json");
  let dict: Record<string, unknown>;
  try {
    dict = await readJson(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
  const names = dict.splits;
  if (!Array.isArray(names) || names.length === 0) {
    throw new DataError(file, "json", "splits", "not a list", "expected a list of split names");
  }
  const i = names.findIndex((n) => !plainName(n));
  if (i >= 0) {
    const detail = `${brief(names[i])} is not a plain folder name inside ${path}`;
    throw new DataError(file, "json", `splits[${i}]`, "not a plain name", detail);
  }
  return names as string[];
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
  const stateFile = join(path, "state.json");
  const files = (await readJson(stateFile))._data_files;
  if (!Array.isArray(files)) {
    throw new DataError(path, "state.json", "_data_files", "missing", "no list of data files");
  }
  return files.map((f, i) => {
    const name = (f as { filename?: unknown } | null)?.filename;
    if (!plainName(name)) {
      const detail =
        `${name === undefined ? "missing" : brief(name)} is not a plain file name inside ` +
        `${path} (datasets writes names like data-00000-of-00001.arrow)`;
      throw new DataError(
        stateFile,
        "json",
        `_data_files[${i}].filename`,
        "not a plain name",
        detail,
      );
    }
    return join(path, name);
  });
}

async function isFileFormat(path: string): Promise<boolean> {
  using f = await Deno.open(path);
  const head = new Uint8Array(FILE_MAGIC.length);
  const n = await f.read(head);
  return n === head.length && new TextDecoder().decode(head) === FILE_MAGIC;
}

/**
 * The record batches of one Arrow IPC file or stream, read lazily. Its structure is checked
 * first (arrow_ipc_check.ts); what apache-arrow still throws while parsing becomes a DataError
 * naming the file and batch.
 */
export async function* fileBatches(
  path: string,
  schema?: SchemaName,
): AsyncGenerator<A.RecordBatch> {
  await checkIpc(path, schema);
  let batch = 0;
  const damaged = (e: unknown): never => {
    if (e instanceof UserError || !(e instanceof Error)) throw e;
    throw new DataError(
      path,
      `batch ${batch}`,
      "ipc",
      "damaged",
      `${e.message}: ${damagedHint(schema)}`,
    );
  };
  // The file format needs random access (the footer is at the end): a Node FileHandle gives
  // apache-arrow that without reading the whole file; a stream is read front to back.
  const handle = (await isFileFormat(path)) ? await open(path) : null;
  let reader: A.RecordBatchReader;
  try {
    reader = handle
      ? await A.RecordBatchReader.from(handle)
      : await A.RecordBatchReader.from((await Deno.open(path)).readable);
  } catch (e) {
    await handle?.close();
    return damaged(e);
  }
  try {
    const it = reader[Symbol.asyncIterator]();
    for (;; batch++) {
      let next: IteratorResult<A.RecordBatch>;
      try {
        next = await it.next();
      } catch (e) {
        return damaged(e);
      }
      if (next.done) break;
      yield next.value;
    }
  } finally {
    try {
      await reader.cancel();
    } catch { /* a damaged file may fail to close; the error was reported already */ }
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
    for await (const batch of fileBatches(file, schema)) yield { file, batch };
  }
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
      const obj = rowValues(columns, i, name, file, row);
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
  for (const file of await datasetFiles(path, split, schema)) {
    total += await countFileRows(file, schema);
  }
  return total;
}

// The structure check walks every message's metadata and sums the record batch lengths.
function countFileRows(path: string, schema?: SchemaName): Promise<number> {
  return checkIpc(path, schema);
}

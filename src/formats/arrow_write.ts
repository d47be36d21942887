// Writing datasets as Arrow IPC (file with footer, or stream as Hugging Face shards are),
// batch by batch and atomically: readers see the old file or the whole new one.
import * as A from "apache-arrow";
import { writeAll, writeFileAtomic } from "./atomic.ts";
import { arrowSchema, type Rows, type SchemaName } from "./schemas.ts";

export interface WriteOptions {
  /** "file" (random access, footer) or "stream" (the save_to_disk shard format). */
  format?: "file" | "stream";
  batchRows?: number;
  /** Overrides the documented types (tests write large_string / large_list / int64 with it). */
  schema?: A.Schema;
}

/** Writes `rows` to `path`; returns how many were written. */
export async function writeArrow<S extends SchemaName>(
  path: string,
  name: S,
  rows: Iterable<Rows[S]> | AsyncIterable<Rows[S]>,
  { format = "file", batchRows = 4096, schema = arrowSchema(name) }: WriteOptions = {},
): Promise<number> {
  let count = 0;
  await writeFileAtomic(path, async (file) => {
    const writer = format === "file"
      ? new A.RecordBatchFileWriter()
      : new A.RecordBatchStreamWriter();
    // The writer is an async queue of bytes: drain it to the file while batches go in.
    const drain = (async () => {
      for await (const bytes of writer) await writeAll(file, bytes);
    })();
    writer.reset(undefined, schema);
    try {
      let pending: Rows[S][] = [];
      const flush = () => {
        writer.write(toBatch(schema, pending));
        pending = [];
      };
      for await (const row of rows) {
        pending.push(row);
        count++;
        if (pending.length === batchRows) flush();
      }
      if (pending.length > 0) flush();
    } finally {
      // Ends the byte queue on failure too, so no write outlives the file.
      writer.finish();
      await drain;
    }
  });
  return count;
}

function toBatch(schema: A.Schema, rows: object[]): A.RecordBatch {
  const type = new A.Struct(schema.fields);
  const builder = A.makeBuilder({ type });
  for (const row of rows) builder.append(widen(type, row));
  return new A.RecordBatch(schema, builder.finish().flush());
}

// int64 builders take bigint, at any depth (list<int64> too).
function widen(type: A.DataType, v: unknown): unknown {
  if (A.DataType.isInt(type) && type.bitWidth === 64) return BigInt(v as number);
  if (A.DataType.isList(type) || A.DataType.isLargeList(type)) {
    return (v as unknown[]).map((x) => widen(type.children[0].type, x));
  }
  if (A.DataType.isStruct(type)) {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(type.children.map((f) => [f.name, widen(f.type, o[f.name])]));
  }
  return v;
}

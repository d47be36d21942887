// Bounds checks of an Arrow IPC file or stream before apache-arrow reads it. apache-arrow
// trusts the lengths it decodes: a flipped byte in a footer can declare a vector of 2^28
// key-value pairs (minutes of CPU and gigabytes of memory) or a buffer past the end of the
// file. This walks the flatbuffer metadata alone (footer, message headers; bodies are never
// read) and checks every vector, table, length and offset against the bytes present.
import { convertHint } from "./convert_hint.ts";
import { DataError, type SchemaName } from "./schemas.ts";

/** A bounds problem: where (a byte offset) and what; arrow.ts turns it into a DataError. */
export class IpcDamage extends Error {
  constructor(readonly at: number, message: string) {
    super(message);
  }
}

const TWO32 = 2 ** 32;
// Header and type unions (Message.fbs, Schema.fbs) whose tables hold vectors.
const HEADER = { schema: 1, dictionary: 2, recordBatch: 3 };
const UNION_TYPE = 14;

/** A flatbuffer whose every read is checked against its length. */
class Fb {
  readonly dv: DataView;
  budget = 100_000; // tables visited, against DAG-shaped (shared) tables
  constructor(readonly b: Uint8Array, readonly base: number) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  fail(p: number, what: string): never {
    throw new IpcDamage(this.base + Math.max(0, p), what);
  }
  need(p: number, n: number, what: string): void {
    if (!(p >= 0 && p + n <= this.b.length)) {
      this.fail(p, `${what} at ${p}+${n} runs past the ${this.b.length}-byte metadata`);
    }
  }
  u8(p: number) {
    this.need(p, 1, "byte");
    return this.b[p];
  }
  u16(p: number) {
    this.need(p, 2, "uint16");
    return this.dv.getUint16(p, true);
  }
  u32(p: number) {
    this.need(p, 4, "uint32");
    return this.dv.getUint32(p, true);
  }
  i64(p: number, what: string): number {
    this.need(p, 8, what);
    const lo = this.dv.getUint32(p, true), hi = this.dv.getInt32(p + 4, true);
    if (hi < 0 || hi >= 2 ** 21) this.fail(p, `${what} ${hi * TWO32 + lo} is not a plausible size`);
    return hi * TWO32 + lo;
  }
  /** A table at `p`: its vtable checked; returns a field reader. */
  table(p: number): Table {
    if (--this.budget < 0) this.fail(p, "too many tables (a loop of shared tables)");
    this.need(p, 4, "table");
    const vt = p - this.dv.getInt32(p, true);
    const vtSize = this.u16(vt), tSize = this.u16(vt + 2);
    if (vtSize < 4 || vtSize % 2 !== 0) this.fail(vt, `vtable size ${vtSize}`);
    this.need(vt, vtSize, "vtable");
    this.need(p, tSize, "table");
    return new Table(this, p, vt, vtSize, tSize);
  }
}

class Table {
  constructor(
    readonly fb: Fb,
    readonly p: number,
    readonly vt: number,
    readonly vtSize: number,
    readonly tSize: number,
  ) {}
  /** The absolute position of field `i`, or -1 when absent. */
  pos(i: number): number {
    const o = 4 + 2 * i;
    if (o + 2 > this.vtSize) return -1;
    const off = this.fb.u16(this.vt + o);
    if (off === 0) return -1;
    if (off >= this.tSize) this.fb.fail(this.vt + o, `field offset ${off} outside its table`);
    return this.p + off;
  }
  ref(i: number): number {
    const at = this.pos(i);
    if (at < 0) return -1;
    const to = at + this.fb.u32(at);
    this.fb.need(to, 4, "reference");
    return to;
  }
  sub(i: number): Table | null {
    const to = this.ref(i);
    return to < 0 ? null : this.fb.table(to);
  }
  /** A vector of `size`-byte elements: [first element's position, count]. */
  vector(i: number, size: number, what: string): [number, number] {
    const to = this.ref(i);
    if (to < 0) return [0, 0];
    const n = this.fb.u32(to);
    if (n * size > this.fb.b.length - to - 4) {
      this.fb.fail(to, `${what} declares ${n} entries, more than the metadata holds`);
    }
    return [to + 4, n];
  }
  tables(i: number, what: string): Table[] {
    const [at, n] = this.vector(i, 4, what), out: Table[] = [];
    for (let k = 0; k < n; k++) {
      const e = at + 4 * k, to = e + this.fb.u32(e);
      out.push(this.fb.table(to));
    }
    return out;
  }
  int64(i: number, what: string): number {
    const at = this.pos(i);
    return at < 0 ? 0 : this.fb.i64(at, what);
  }
}

function keyValues(t: Table, i: number): void {
  for (const kv of t.tables(i, "custom_metadata")) {
    kv.vector(0, 1, "metadata key");
    kv.vector(1, 1, "metadata value");
  }
}

function field(f: Table, depth: number): void {
  if (depth > 64) f.fb.fail(f.p, "fields nested more than 64 deep");
  f.vector(0, 1, "field name");
  const type = f.sub(3);
  if (type && f.pos(2) >= 0 && f.fb.u8(f.pos(2)) === UNION_TYPE) type.vector(1, 4, "union typeIds");
  const dict = f.sub(4);
  if (dict) dict.sub(1);
  for (const c of f.tables(5, "children")) field(c, depth + 1);
  keyValues(f, 6);
}

function schema(s: Table): number {
  const fields = s.tables(1, "schema fields");
  for (const f of fields) field(f, 0);
  keyValues(s, 2);
  s.vector(3, 8, "schema features");
  return fields.length;
}

// Rows a record batch of `body` bytes can plausibly hold: a bit each (validity, booleans)
// and some slack for all-null columns.
const plausibleRows = (body: number) => 8 * body + 4096;

function recordBatch(r: Table, body: number): number {
  const fb = r.fb, length = r.int64(0, "record batch length");
  if (length > plausibleRows(body)) {
    fb.fail(r.p, `record batch declares ${length} rows in a ${body}-byte body`);
  }
  const [nodes, n] = r.vector(1, 16, "field nodes");
  for (let k = 0; k < n; k++) {
    const len = fb.i64(nodes + 16 * k, "node length");
    if (len > plausibleRows(body)) fb.fail(nodes + 16 * k, `a column declares ${len} values`);
    if (fb.i64(nodes + 16 * k + 8, "null count") > len) fb.fail(nodes + 16 * k, "null count");
  }
  const [bufs, m] = r.vector(2, 16, "buffers");
  for (let k = 0; k < m; k++) {
    const off = fb.i64(bufs + 16 * k, "buffer offset"), len = fb.i64(bufs + 16 * k + 8, "buffer");
    if (off + len > body) {
      fb.fail(bufs + 16 * k, `buffer ${k} (${off}+${len}) lies outside the ${body}-byte body`);
    }
  }
  r.vector(4, 8, "variadic buffer counts");
  return length;
}

/**
 * Checks one message's metadata; returns [body length, rows when a record batch, header
 * type (1 schema, 2 dictionary batch, 3 record batch; others are refused)].
 */
export function checkMessage(
  b: Uint8Array,
  base: number,
  room: number,
): [number, number, number] {
  const fb = new Fb(b, base), m = fb.table(fb.u32(0));
  const kind = m.pos(1) < 0 ? 0 : fb.u8(m.pos(1)), body = m.int64(3, "body length");
  if (body > room) fb.fail(0, `message body of ${body} bytes, only ${room} follow`);
  keyValues(m, 4);
  const h = m.sub(2) ?? fb.fail(0, "message without a header");
  if (!Object.values(HEADER).includes(kind)) {
    fb.fail(0, `message of unknown type ${kind} (not a schema, dictionary or record batch)`);
  }
  if (kind === HEADER.schema) schema(h);
  if (kind === HEADER.recordBatch) return [body, recordBatch(h, body), kind];
  if (kind === HEADER.dictionary) {
    const data = h.sub(1);
    if (data) recordBatch(data, body);
  }
  return [body, 0, kind];
}

/** A footer's record batch and dictionary blocks, after checking its schema. */
export function checkFooter(b: Uint8Array, base: number): Block[] {
  const fb = new Fb(b, base), f = fb.table(fb.u32(0));
  const s = f.sub(1);
  schema(s ?? fb.fail(0, "footer has no schema"));
  keyValues(f, 4);
  const blocks: Block[] = [];
  for (const [i, kind] of [[2, "dictionary"], [3, "record batch"]] as const) {
    const [at, n] = f.vector(i, 24, `${kind} blocks`);
    for (let k = 0; k < n; k++) {
      const p = at + 24 * k;
      blocks.push({
        batch: kind === "record batch",
        offset: fb.i64(p, "block offset"),
        metaLength: fb.dv.getInt32(p + 8, true),
        bodyLength: fb.i64(p + 16, "block body length"),
      });
    }
  }
  return blocks;
}

export interface Block {
  batch: boolean;
  offset: number;
  metaLength: number;
  bodyLength: number;
}

const FILE_MAGIC = "ARROW1";

/** "the file is damaged or truncated: re-create it with ..." */
export function damagedHint(schema?: SchemaName | null): string {
  return `the file is damaged or truncated: re-create it (${convertHint(schema ?? null)})`;
}

/**
 * Checks the structure of the Arrow IPC file or stream at `path` against its size, reading
 * only metadata, and returns its rows (the record batches' lengths). Throws a DataError
 * naming the file and byte offset for anything apache-arrow would trip on or loop over.
 */
export async function checkIpc(path: string, schema?: SchemaName | null): Promise<number> {
  using f = await Deno.open(path);
  const size = (await f.stat()).size;
  const read = async (offset: number, n: number): Promise<Uint8Array> => {
    if (offset < 0 || n < 0 || offset + n > size) {
      throw new IpcDamage(offset, `${n} bytes at ${offset} run past the end (${size} bytes)`);
    }
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(n);
    for (let got = 0; got < n;) {
      const r = await f.read(buf.subarray(got));
      if (r === null) throw new IpcDamage(offset + got, "the file ends early");
      got += r;
    }
    return buf;
  };
  try {
    const head = await read(0, Math.min(size, 8));
    if (new TextDecoder().decode(head.subarray(0, 6)) === FILE_MAGIC) {
      return await checkFile(read, size);
    }
    return await checkStream(read, 0, size);
  } catch (e) {
    if (!(e instanceof IpcDamage)) throw e;
    throw new DataError(
      path,
      `byte ${e.at}`,
      "ipc",
      "damaged",
      `${e.message}: ${damagedHint(schema)}`,
    );
  }
}

type Read = (offset: number, n: number) => Promise<Uint8Array>;

// One message's length prefix at `at`: [metadata start, metadata length], or null at the end.
async function prefix(read: Read, at: number, end: number): Promise<[number, number] | null> {
  if (at + 4 > end) return null;
  const dv = new DataView((await read(at, Math.min(8, end - at))).buffer);
  const continued = dv.getInt32(0, true) === -1;
  if (continued && dv.byteLength < 8) throw new IpcDamage(at, "a message is cut short");
  const length = dv.getInt32(continued ? 4 : 0, true), start = at + (continued ? 8 : 4);
  if (length === 0) return null;
  if (length < 0 || length > end - start) {
    throw new IpcDamage(at, `message metadata of ${length} bytes, only ${end - start} follow`);
  }
  return [start, length];
}

async function checkStream(read: Read, at: number, end: number): Promise<number> {
  let rows = 0, first = true;
  for (let p = await prefix(read, at, end); p; p = await prefix(read, at, end)) {
    const [start, length] = p, room = end - start - length;
    const [body, n, kind] = checkMessage(await read(start, length), start, room);
    if (first && kind !== HEADER.schema) {
      throw new IpcDamage(at, "the stream does not start with a schema");
    }
    first = false;
    rows += n;
    at = start + length + body;
  }
  if (first) throw new IpcDamage(at, "no schema message: the stream is empty or cut short");
  return rows;
}

async function checkFile(read: Read, size: number): Promise<number> {
  if (size < 18 || new TextDecoder().decode(await read(size - 6, 6)) !== FILE_MAGIC) {
    throw new IpcDamage(size, "the file starts as an Arrow file but has no ARROW1 at its end");
  }
  const footerLength = new DataView((await read(size - 10, 4)).buffer).getInt32(0, true);
  const footerStart = size - 10 - footerLength;
  if (footerLength <= 0 || footerStart < 8) {
    throw new IpcDamage(
      size - 10,
      `footer length ${footerLength} does not fit the ${size}-byte file`,
    );
  }
  const blocks = checkFooter(await read(footerStart, footerLength), footerStart);
  let rows = 0;
  for (const b of blocks) {
    const end = b.offset + b.metaLength + b.bodyLength;
    if (b.offset < 8 || b.metaLength <= 0 || end > footerStart) {
      throw new IpcDamage(
        footerStart,
        `a block (${b.offset}+${b.metaLength}+${b.bodyLength}) lies outside the data`,
      );
    }
    const p = await prefix(read, b.offset, b.offset + b.metaLength);
    if (!p) throw new IpcDamage(b.offset, "a block holds no message");
    const [body, n, kind] = checkMessage(
      await read(p[0], p[1]),
      p[0],
      footerStart - b.offset - b.metaLength,
    );
    if (kind !== (b.batch ? HEADER.recordBatch : HEADER.dictionary)) {
      const want = b.batch ? "record batch" : "dictionary";
      throw new IpcDamage(b.offset, `a ${want} block holds a message of type ${kind}`);
    }
    rows += n;
    if (body > b.bodyLength) throw new IpcDamage(b.offset, "message body longer than its block");
  }
  return rows;
}

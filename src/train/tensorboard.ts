// TensorBoard event-file writer, so kadapter runs open in TensorBoard beside PyTorch runs.
// No well-kept pure-JS npm package writes it (@tensorflow/tfjs-node does, but is native code), so
// the documented format is written by hand: TFRecord frames holding serialized
// tensorflow.Event protobufs, as in tensorflow/tensorboard's summary/writer/record_writer.py,
// event_file_writer.py and compat/proto/{event,summary}.proto.
//
// Every record is written through at once (one writeSync loop per record), so a killed run keeps
// all it logged; at worst its last record is cut short, which TensorBoard's reader
// treats as not yet written (it stops there without error).

const encoder = new TextEncoder();

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven: TFRecord checksums use it.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// TFRecord masks its CRCs (rotate right 15, add a constant) because a CRC of data that itself
// contains CRCs is poorly distributed.
function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** One TFRecord frame: u64 length, masked CRC of those 8 bytes, data, masked CRC of data (LE). */
function frame(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// A tiny protobuf encoder: just the wire types the Event/Summary fields need.
class Proto {
  readonly bytes: number[] = [];

  #varint(v: bigint): void {
    v = BigInt.asUintN(64, v); // int64 negatives are ten-byte two's complement varints
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  #key(field: number, wire: number): void {
    this.#varint(BigInt((field << 3) | wire));
  }

  int64(field: number, v: number): this {
    this.#key(field, 0);
    this.#varint(BigInt(v));
    return this;
  }

  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.#key(field, 1);
    this.bytes.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true); // NaN and ±Infinity pass through as is
    this.#key(field, 5);
    this.bytes.push(...b);
    return this;
  }

  bytesField(field: number, v: Uint8Array | number[]): this {
    this.#key(field, 2);
    this.#varint(BigInt(v.length));
    for (const b of v) this.bytes.push(b);
    return this;
  }

  string(field: number, v: string): this {
    return this.bytesField(field, encoder.encode(v));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

// Event fields (event.proto): 1 wall_time double, 2 step int64, 3 file_version string,
// 5 summary Summary. Summary (summary.proto): 1 repeated Value; Value: 1 tag, 2 simple_value float.
const EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5;
const SUMMARY_VALUE = 1, VALUE_TAG = 1, VALUE_SIMPLE_VALUE = 2;

// The file name carries the host like TensorBoard's own writer, but kadapter runs without
// --allow-sys, so fall back quietly (never prompting) to the HOSTNAME variable, /etc/hostname, or
// "localhost".
function hostname(): string {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  let name = "";
  try {
    if (granted({ name: "sys", kind: "hostname" })) name = Deno.hostname();
    else if (granted({ name: "env", variable: "HOSTNAME" })) name = Deno.env.get("HOSTNAME") ?? "";
    if (!name && granted({ name: "read", path: "/etc/hostname" })) {
      name = Deno.readTextFileSync("/etc/hostname").trim();
    }
  } catch { /* no hostname available: use the fallback */ }
  return name.replace(/[^A-Za-z0-9._-]/g, "_") || "localhost";
}

// Opens a fresh file (createNew), so two writers started in the same second never share one.
function openNew(base: string): [Deno.FsFile, string] {
  for (let n = 0;; n++) {
    const path = `${base}${n ? `.${n}` : ""}.kadapter`;
    try {
      return [Deno.openSync(path, { write: true, append: true, createNew: true }), path];
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** Writes TensorBoard scalar summaries to a new event file in a log directory. */
export class TensorBoardWriter {
  /** The event file this writer appends to. */
  readonly path: string;
  #file: Deno.FsFile | null;

  /**
   * Creates `dir` (recursively) and a new events.out.tfevents.<unix seconds>.<host>.<pid>.kadapter
   * file in it (".1", ".2"… before ".kadapter" if that name is taken), then writes the
   * file_version record "brain.Event:2" that readers expect first.
   */
  constructor(readonly dir: string) {
    Deno.mkdirSync(dir, { recursive: true });
    const base = `${dir.replace(/[/\\]+$/, "") || "/"}/events.out.tfevents.` +
      `${Math.floor(Date.now() / 1000)}.${hostname()}.${Deno.pid}`;
    [this.#file, this.path] = openNew(base);
    this.#write(
      new Proto().double(EVENT_WALL_TIME, Date.now() / 1000)
        .string(EVENT_FILE_VERSION, "brain.Event:2").finish(),
    );
  }

  /** Appends one scalar (value stored as float32) at integer `step`; wallTime in unix seconds. */
  scalar(tag: string, value: number, step: number, wallTime?: number): void {
    this.scalars({ [tag]: value }, step, wallTime);
  }

  /** Appends several scalars sharing one step and wall time, as one event. */
  scalars(values: Record<string, number>, step: number, wallTime = Date.now() / 1000): void {
    if (!Number.isSafeInteger(step)) throw new RangeError(`step must be an integer, got ${step}`);
    const summary = new Proto();
    for (const [tag, value] of Object.entries(values)) {
      summary.bytesField(
        SUMMARY_VALUE,
        new Proto().string(VALUE_TAG, tag).float(VALUE_SIMPLE_VALUE, value).bytes,
      );
    }
    this.#write(
      new Proto().double(EVENT_WALL_TIME, wallTime).int64(EVENT_STEP, step)
        .bytesField(EVENT_SUMMARY, summary.bytes).finish(),
    );
  }

  #write(event: Uint8Array): void {
    if (!this.#file) throw new Error(`TensorBoardWriter for ${this.path} is closed`);
    const bytes = frame(event);
    let at = 0;
    while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
  }

  /** Closes the file; later calls do nothing. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}

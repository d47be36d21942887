// Checks TensorBoardWriter against a decoder written here independently of it: TFRecord frames
// with both masked CRC32Cs verified (bitwise CRC, not the writer's table), protobuf decoded
// generically by wire type. When a Python with the `tensorboard` package is available
// (KADAPTER_TB_PYTHON, default python3), TensorBoard's own reader checks the file too.
import assert from "node:assert/strict";
import { TensorBoardWriter } from "../../src/train/tensorboard.ts";

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

const masked = (bytes: Uint8Array) => {
  const c = crc32cBitwise(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
};

/** Splits a TFRecord file into record payloads, failing on any bad CRC or trailing bytes. */
function readRecords(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert(at + 12 <= bytes.length, "truncated header");
    const len = Number(view.getBigUint64(at, true));
    assert.deepEqual(
      view.getUint32(at + 8, true),
      masked(bytes.subarray(at, at + 8)),
      "length crc",
    );
    const data = bytes.subarray(at + 12, at + 12 + len);
    assert(at + 16 + len <= bytes.length, "truncated record");
    assert.deepEqual(view.getUint32(at + 12 + len, true), masked(data), "data crc");
    out.push(data);
    at += 16 + len;
  }
  return out;
}

type Field = { wire: number; varint?: bigint; bytes?: Uint8Array };

/** Generic protobuf decode: field number -> occurrences (fixed32/64 kept as raw bytes). */
function decode(bytes: Uint8Array): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let at = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = bytes[at++];
      assert(b !== undefined, "truncated varint");
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const wire = key & 7;
    let f: Field;
    if (wire === 0) f = { wire, varint: varint() };
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      f = { wire, bytes: bytes.subarray(at, at + n) };
      at += n;
    } else if (wire === 2) {
      const n = Number(varint());
      f = { wire, bytes: bytes.subarray(at, at + n) };
      at += n;
    } else throw new Error(`unexpected wire type ${wire}`);
    assert(at <= bytes.length, "field runs past end");
    const no = key >>> 3;
    fields.set(no, [...(fields.get(no) ?? []), f]);
  }
  return fields;
}

function one(fields: Map<number, Field[]>, no: number, wire: number): Field | undefined {
  const fs = fields.get(no) ?? [];
  assert(fs.length <= 1, `field ${no} repeated`);
  if (fs[0]) assert.deepEqual(fs[0].wire, wire, `field ${no} wire type`);
  return fs[0];
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

type Event = {
  wallTime: number;
  step?: bigint;
  fileVersion?: string;
  values: { tag: string; value: number }[];
};

/** Decodes tensorflow.Event: 1 wall_time double, 2 step int64, 3 file_version, 5 summary. */
function decodeEvent(bytes: Uint8Array): Event {
  const e = decode(bytes);
  for (const no of e.keys()) assert([1, 2, 3, 5].includes(no), `unexpected Event field ${no}`);
  const step = one(e, 2, 0)?.varint;
  const fv = one(e, 3, 2)?.bytes;
  const values = (one(e, 5, 2) ? [...decode(one(e, 5, 2)!.bytes!).entries()] : []).flatMap(
    ([no, vs]) => {
      assert.deepEqual(no, 1, "Summary has only field 1 (value)");
      return vs.map((v) => {
        const val = decode(v.bytes!);
        return {
          tag: new TextDecoder().decode(one(val, 1, 2)!.bytes!),
          value: dv(one(val, 2, 5)!.bytes!).getFloat32(0, true),
        };
      });
    },
  );
  return {
    wallTime: dv(one(e, 1, 1)!.bytes!).getFloat64(0, true),
    step: step === undefined ? undefined : BigInt.asIntN(64, step),
    fileVersion: fv && new TextDecoder().decode(fv),
    values,
  };
}

const readEvents = (path: string) => readRecords(Deno.readFileSync(path)).map(decodeEvent);

Deno.test("test CRC32C matches the RFC 3720 B.4 vectors", () => {
  assert.deepEqual(crc32cBitwise(new Uint8Array(32)), 0x8a9136aa);
  assert.deepEqual(crc32cBitwise(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.deepEqual(crc32cBitwise(new TextEncoder().encode("123456789")), 0xe3069283);
});

Deno.test("TensorBoardWriter: file name, file_version first, scalars round-trip", () => {
  const root = Deno.makeTempDirSync();
  try {
    const before = Date.now() / 1000;
    const w = new TensorBoardWriter(`${root}/runs/a/b`);
    assert(Deno.statSync(`${root}/runs/a/b`).isDirectory);
    const name = w.path.slice(`${root}/runs/a/b/`.length);
    const m = /^events\.out\.tfevents\.(\d+)\.[A-Za-z0-9._-]+\.(\d+)\.kadapter$/.exec(name);
    assert(m, name);
    assert(Math.abs(Number(m[1]) - before) <= 2);
    assert.deepEqual(Number(m[2]), Deno.pid);

    w.scalar("train/loss", 2.5, 0, 1700000000.123456);
    w.scalar("train/lr", 0.1, 7, 1700000001.5);
    w.scalar("ünï/cödé", 1 / 3, 2 ** 40); // default wall time
    w.scalar("neg", -1e-30, -5, 1); // negative int64 step (ten-byte varint)
    w.scalars({ "eval/a": 1, "eval/b": 2 }, 9, 2);
    // Written through: readable in full before close.
    const ev = readEvents(w.path);
    w.close();
    w.close(); // idempotent
    const after = Date.now() / 1000;

    assert.deepEqual(ev.length, 6);
    assert.deepEqual(ev[0].fileVersion, "brain.Event:2");
    assert.deepEqual(ev[0].values, []);
    assert(ev[0].wallTime >= before - 1e-3 && ev[0].wallTime <= after + 1e-3);
    assert.deepEqual(ev.slice(1).map((e) => e.fileVersion), [
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    assert.deepEqual(ev[1], {
      wallTime: 1700000000.123456,
      step: 0n,
      fileVersion: undefined,
      values: [{ tag: "train/loss", value: 2.5 }],
    });
    assert.deepEqual(ev[2].values, [{ tag: "train/lr", value: Math.fround(0.1) }]);
    assert.deepEqual([ev[2].step, ev[2].wallTime], [7n, 1700000001.5]);
    assert.deepEqual(ev[3].values, [{ tag: "ünï/cödé", value: Math.fround(1 / 3) }]);
    assert.deepEqual(ev[3].step, 2n ** 40n);
    assert(ev[3].wallTime >= before - 1e-3 && ev[3].wallTime <= after + 1e-3);
    assert.deepEqual(ev[4].values, [{ tag: "neg", value: Math.fround(-1e-30) }]);
    assert.deepEqual(ev[4].step, -5n);
    assert.deepEqual(ev[5].values, [{ tag: "eval/a", value: 1 }, { tag: "eval/b", value: 2 }]);

    assert.throws(() => w.scalar("x", 1, 1), /closed/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("TensorBoardWriter: non-finite values, many records, bad steps, two writers", () => {
  const root = Deno.makeTempDirSync();
  try {
    const w = new TensorBoardWriter(root);
    w.scalar("nan", NaN, 1, 10);
    w.scalar("inf", Infinity, 2, 10);
    w.scalar("-inf", -Infinity, 3, 10);
    w.scalar("big", 1e39, 4, 10); // beyond float32: stored as Infinity, as float32 casts do
    assert.throws(() => w.scalar("x", 1, 1.5), RangeError);
    assert.throws(() => w.scalar("x", 1, NaN), RangeError);
    const n = 2000;
    for (let i = 0; i < n; i++) w.scalar(`t${i % 3}`, Math.sin(i), i * 10, 100 + i / 8);
    const other = new TensorBoardWriter(root); // same second, same pid: must get its own file
    assert(other.path !== w.path, other.path);
    other.scalar("other", 1, 1);
    other.close();
    w.close();

    const ev = readEvents(w.path);
    assert.deepEqual(ev.length, 1 + 4 + n);
    assert(Number.isNaN(ev[1].values[0].value));
    assert.deepEqual(ev.slice(2, 5).map((e) => e.values[0].value), [Infinity, -Infinity, Infinity]);
    for (let i = 0; i < n; i++) {
      const e = ev[5 + i];
      assert.deepEqual(e.values, [{ tag: `t${i % 3}`, value: Math.fround(Math.sin(i)) }]);
      assert.deepEqual([e.step, e.wallTime], [BigInt(i * 10), 100 + i / 8]);
    }
    assert.deepEqual(readEvents(other.path).map((e) => e.values), [[], [{
      tag: "other",
      value: 1,
    }]]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

// TensorBoard's own reader, where installed: its record reader checks both CRCs (and raises, not
// skips, here), and EventAccumulator is what the scalars dashboard reads through.
const python = Deno.env.get("KADAPTER_TB_PYTHON") ?? "python3";
const hasTensorBoard = (() => {
  try {
    return new Deno.Command(python, {
      args: ["-c", "import tensorboard"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();

const READER = `
import json, sys
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.backend.event_processing import event_accumulator
path, logdir = sys.argv[1], sys.argv[2]
r, raw = PyRecordReader_New(path), []
while True:
    try:
        r.GetNext()
    except errors.OutOfRangeError:
        break
    e = event_pb2.Event.FromString(r.record())
    raw.append({"wall_time": e.wall_time, "step": e.step, "file_version": e.file_version,
                "values": [[v.tag, repr(v.simple_value)] for v in e.summary.value]})
acc = event_accumulator.EventAccumulator(logdir)
acc.Reload()
scalars = {t: [[s.wall_time, s.step, repr(s.value)] for s in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
print(json.dumps({"raw": raw, "scalars": scalars}))
`;

Deno.test({
  name: "TensorBoardWriter: TensorBoard's own reader agrees",
  ignore: !hasTensorBoard,
  fn() {
    const root = Deno.makeTempDirSync();
    try {
      const w = new TensorBoardWriter(root);
      w.scalar("train/loss", 2.5, 1, 1700000000.25);
      w.scalar("train/loss", 0.1, 2, 1700000001.5);
      w.scalar("nan", NaN, 3, 1700000002);
      w.scalars({ "eval/a": 1, "eval/b": -Infinity }, 4, 1700000003);
      w.close();
      const out = new Deno.Command(python, { args: ["-c", READER, w.path, root] }).outputSync();
      assert(out.success, new TextDecoder().decode(out.stderr));
      const got = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(got.raw.length, 5);
      assert.deepEqual(got.raw[0].file_version, "brain.Event:2");
      assert.deepEqual(got.raw.slice(1).map((e: { values: unknown }) => e.values), [
        [["train/loss", "2.5"]],
        [["train/loss", String(Math.fround(0.1))]],
        [["nan", "nan"]],
        [["eval/a", "1.0"], ["eval/b", "-inf"]],
      ]);
      assert.deepEqual(got.scalars["train/loss"], [
        [1700000000.25, 1, "2.5"],
        [1700000001.5, 2, String(Math.fround(0.1))],
      ]);
      assert.deepEqual(got.scalars["nan"], [[1700000002, 3, "nan"]]);
      assert.deepEqual(got.scalars["eval/b"], [[1700000003, 4, "-inf"]]);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

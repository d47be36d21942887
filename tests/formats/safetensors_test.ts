// safetensors: round trips, the writer against bytes built by hand from the format description,
// and a fuzz of truncated, mutated and hand-crafted malicious files, every one of which must
// be refused with a SafetensorsError (or, where a mutation kept the file valid, read whole).
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "../../src/nn/init.ts";
import {
  openSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "../../src/formats/safetensors.ts";

const enc = new TextEncoder();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_st_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/** A file from its parts: header length (default: the header's), header, data section. */
function craft(header: string | Uint8Array, data = new Uint8Array(), length?: bigint): Uint8Array {
  const h = typeof header === "string" ? enc.encode(header) : header;
  const n = new Uint8Array(8);
  new DataView(n.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  return concat(n, h, data);
}

/** bfloat16 bits of f32 values that bf16 holds exactly. */
const bf16 = (xs: number[]) =>
  Uint16Array.from(new Uint32Array(Float32Array.from(xs).buffer), (b) => b >>> 16);

Deno.test("safetensors: F32, F16, BF16, I64, I32, U8 round trip with metadata", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "t.safetensors");
    await writeSafetensors(path, [
      { name: "w", dtype: "F32", shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -7) },
      { name: "h", dtype: "F16", shape: [3], data: Float16Array.of(0.5, -65504, 2 ** -24) },
      { name: "b", dtype: "BF16", shape: [2], data: bf16([3.140625, -(2 ** 100)]) },
      { name: "ids", dtype: "I64", shape: [1, 3], data: BigInt64Array.of(0n, -5n, 2n ** 31n - 1n) },
      { name: "i", dtype: "I32", shape: [2], data: Int32Array.of(-1, 7) },
      // Lazy data, as the GPU writer streams it; and an empty tensor.
      { name: "m", dtype: "U8", shape: [2], data: () => Promise.resolve(Uint8Array.of(1, 255)) },
      { name: "empty", dtype: "F32", shape: [0, 4], data: new Float32Array() },
    ], { format: "pt", note: "é" });
    const f = await openSafetensors(path);
    try {
      assert.deepEqual(f.metadata, { format: "pt", note: "é" });
      assert.deepEqual(f.info("w").shape, [2, 3]);
      assert.equal(f.dataStart % 8, 0);
      // Every tensor starts aligned to its element size in the file.
      const size = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 } as Record<string, number>;
      for (const t of f.tensors.values()) assert.equal((f.dataStart + t.begin) % size[t.dtype], 0);
      assert.deepEqual([...await f.readF32("w")], [1, -2, 3.5, 0, Math.fround(1e-8), -7]);
      assert.deepEqual([...await f.readF32("h")], [0.5, -65504, 2 ** -24]);
      assert.deepEqual([...await f.readF32("b")], [3.140625, -(2 ** 100)]);
      assert.deepEqual([...await f.readI32("ids")], [0, -5, 2 ** 31 - 1]);
      assert.deepEqual([...await f.readI32("i")], [-1, 7]);
      assert.deepEqual([...await f.readBytes("m")], [1, 255]);
      assert.equal((await f.readF32("empty")).length, 0);
      // Concurrent reads share one file handle and must not interleave.
      const all = await Promise.all(["w", "ids", "w", "m"].map((n) => f.readBytes(n)));
      assert.deepEqual(all.map((a) => a.length), [24, 24, 24, 2]);
      assert.deepEqual(all[0], all[2]);
    } finally {
      f.close();
    }
  });
});

Deno.test("safetensors: the writer produces the bytes the format description gives", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "t.safetensors");
    // Reference layout: dtypes by descending alignment (I64 > F32 > F16), then by name.
    await writeSafetensors(path, [
      { name: "c", dtype: "F16", shape: [1, 1], data: Float16Array.of(0.5) },
      { name: "b", dtype: "F32", shape: [2], data: Float32Array.of(1, -2) },
      { name: "a", dtype: "I64", shape: [1], data: BigInt64Array.of(7n) },
    ], { format: "pt" });
    const json = '{"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
      '"c":{"dtype":"F16","shape":[1,1],"data_offsets":[16,18]}}';
    const padded = json + " ".repeat((8 - json.length % 8) % 8);
    const data = [7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0x00, 0x38];
    assert.deepEqual(await Deno.readFile(path), craft(padded, Uint8Array.from(data)));

    // The reference's own examples: one F32 [1,1,2,3] tensor gives a 72-byte header (65 of
    // JSON, 7 spaces); no tensors gives "{}" and 6 spaces.
    await writeSafetensors(path, [
      { name: "attn0", dtype: "F32", shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) },
    ]);
    const out = await Deno.readFile(path);
    assert.deepEqual(out.subarray(0, 8), Uint8Array.of(72, 0, 0, 0, 0, 0, 0, 0));
    assert.equal(
      new TextDecoder().decode(out.subarray(8, 80)),
      '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ',
    );
    await writeSafetensors(path, []);
    assert.deepEqual(await Deno.readFile(path), craft("{}      "));
  });
});

Deno.test("safetensors: reads any key order, no padding, whitespace, unusual names", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "t.safetensors");
    const header = ' {"z" : {"data_offsets":[4,8], "shape":[1],"dtype":"I32"},\n' +
      '"__proto__":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]},' +
      '"constructor":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]},' +
      '"\\u00e9":{"dtype":"F64","shape":[0],"data_offsets":[9,9]}} ';
    await Deno.writeFile(path, craft(header, Uint8Array.of(1, 2, 3, 4, 9, 0, 0, 0, 1)));
    const f = await openSafetensors(path);
    try {
      assert.deepEqual([...f.tensors.keys()].sort(), ["__proto__", "constructor", "z", "é"]);
      assert.deepEqual([...await f.readI32("z")], [9]);
      assert.deepEqual([...await f.readBytes("__proto__")], [1, 2, 3, 4]);
      assert.deepEqual(f.info("constructor"), { dtype: "BOOL", shape: [], begin: 8, end: 9 });
      assert.deepEqual(f.metadata, {});
    } finally {
      f.close();
    }
  });
});

async function rejects(path: string, bytes: Uint8Array, pattern: RegExp, what: string) {
  await Deno.writeFile(path, bytes);
  const err = await openSafetensors(path).then((f) => (f.close(), null), (e) => e);
  assert.ok(err instanceof SafetensorsError, `${what}: expected a SafetensorsError, got ${err}`);
  assert.ok(err.message.startsWith(path + ": "), `${what}: message names the file: ${err.message}`);
  assert.match(err.message, pattern, what);
}

const t = (name: string, dtype: string, shape: unknown, offsets: unknown) =>
  `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},` +
  `"data_offsets":${JSON.stringify(offsets)}}`;

Deno.test("safetensors: malicious and malformed headers are refused, naming the tensor", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "bad.safetensors");
    const d8 = new Uint8Array(8);
    const deep = 200_000;
    const cases: [string, Uint8Array, RegExp][] = [
      ["empty file", new Uint8Array(), /0 bytes is too short/],
      ["7 bytes", new Uint8Array(7), /too short/],
      ["header length 2^63", craft("{}", d8, 2n ** 63n), /header length 9223372036854775808 exce/],
      ["header length 2^64-1", craft("{}", d8, 2n ** 64n - 1n), /exceeds 100 MB/],
      ["header length 100 MB + 1", craft("{}", d8, 100_000_001n), /exceeds 100 MB/],
      ["header past the file", craft("{}", d8, 50_000_000n), /runs past the 18-byte file/],
      ["zero-length header", craft(""), /not valid JSON/],
      ["a pickle zip", enc.encode("PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl"), /exceeds/],
      ["invalid UTF-8", craft(Uint8Array.of(0x7b, 0xff, 0x7d)), /not valid UTF-8/],
      ["byte order mark", craft("\ufeff{}"), /not valid JSON/],
      ["NUL padding", craft("{}\0\0\0\0\0\0"), /not valid JSON/],
      ["trailing garbage", craft("{} x"), /not valid JSON/],
      ["top-level array", craft("[]"), /must be a JSON object, not an array/],
      ["top-level null", craft("null"), /must be a JSON object, not null/],
      [
        "duplicate tensor",
        craft(`{${t("a", "U8", [1], [0, 1])},${t("a", "U8", [1], [1, 2])}}`, Uint8Array.of(1, 2)),
        /duplicate key "a"/,
      ],
      [
        "duplicate field",
        craft(
          '{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}',
          Uint8Array.of(1),
        ),
        /duplicate key "dtype"/,
      ],
      [
        "duplicate escaped key",
        craft(
          '{"ab":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
            '"a\\u0062":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
          Uint8Array.of(1, 2),
        ),
        /duplicate key "ab"/,
      ],
      [
        "unknown dtype",
        craft(`{${t("w", "F128", [1], [0, 16])}}`, new Uint8Array(16)),
        /tensor "w": unknown dtype "F128"/,
      ],
      [
        "lowercase dtype",
        craft(`{${t("w", "f32", [1], [0, 4])}}`, new Uint8Array(4)),
        /tensor "w": unknown dtype "f32"/,
      ],
      [
        "dtype not a string",
        craft('{"w":{"dtype":{"x":1},"shape":[1],"data_offsets":[0,1]}}', d8),
        /tensor "w": unknown dtype an object/,
      ],
      [
        "missing shape",
        craft('{"w":{"dtype":"U8","data_offsets":[0,1]}}', Uint8Array.of(1)),
        /tensor "w": shape must be/,
      ],
      [
        "extra field",
        craft('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0}}', Uint8Array.of(1)),
        /tensor "w": unknown field "x"/,
      ],
      ["entry not an object", craft('{"w":[1,2]}'), /tensor "w": must be an object/],
      [
        "negative dim",
        craft(`{${t("w", "U8", [-1], [0, 1])}}`, Uint8Array.of(1)),
        /tensor "w": shape must be/,
      ],
      [
        "fractional dim",
        craft(`{${t("w", "U8", [1.5], [0, 1])}}`, Uint8Array.of(1)),
        /tensor "w": shape must be/,
      ],
      [
        "string dim",
        craft(`{${t("w", "U8", ["1"], [0, 1])}}`, Uint8Array.of(1)),
        /tensor "w": shape must be/,
      ],
      [
        "dim past 2^53",
        craft(
          '{"w":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,1]}}',
          Uint8Array.of(1),
        ),
        /tensor "w": shape must be/,
      ],
      [
        "huge shape product",
        craft(`{${t("w", "F32", [2 ** 32, 2 ** 32, 2 ** 32], [0, 4])}}`, new Uint8Array(4)),
        /tensor "w": F32 \[4294967296,4294967296,4294967296\] needs Infinity bytes/,
      ],
      [
        "nested shape",
        craft(`{${t("w", "U8", [[[[1]]]], [0, 1])}}`, Uint8Array.of(1)),
        /tensor "w": shape must be/,
      ],
      [
        "deeply nested garbage",
        craft(`{"w":${"[".repeat(deep)}${"]".repeat(deep)}}`),
        /tensor "w": must be an object/,
      ],
      [
        "negative offset",
        craft(`{${t("w", "U8", [1], [-1, 0])}}`, Uint8Array.of(1)),
        /tensor "w": data_offsets must be/,
      ],
      [
        "three offsets",
        craft(`{${t("w", "U8", [1], [0, 1, 2])}}`, Uint8Array.of(1)),
        /tensor "w": data_offsets must be/,
      ],
      [
        "offsets past 2^53",
        craft(`{${t("w", "U8", [1], [2 ** 60, 2 ** 60 + 1])}}`, Uint8Array.of(1)),
        /tensor "w": data_offsets must be/,
      ],
      [
        "end before begin",
        craft(`{${t("w", "U8", [0], [4, 0])}}`, new Uint8Array(4)),
        /tensor "w": data_offsets \[4, 0\) end before/,
      ],
      [
        "offsets near 2^53",
        craft(`{${t("w", "U8", [2 ** 53 - 2], [1, 2 ** 53 - 1])}}`, d8),
        /tensor "w" at \[1, 9007199254740991\) runs past the 8-byte data section/,
      ],
      [
        "byte count mismatch",
        craft(`{${t("w", "F32", [3], [0, 8])}}`, d8),
        /tensor "w": F32 \[3\] needs 12 bytes but data_offsets \[0, 8\) hold 8/,
      ],
      [
        "overlap",
        craft(`{${t("a", "U8", [6], [0, 6])},${t("b", "U8", [4], [4, 8])}}`, d8),
        /tensor "b" at \[4, 8\) overlaps tensor "a", which ends at 6/,
      ],
      [
        "gap",
        craft(`{${t("a", "U8", [2], [0, 2])},${t("b", "U8", [4], [4, 8])}}`, d8),
        /tensor "b" at \[4, 8\) leaves a gap of 2 bytes/,
      ],
      [
        "not starting at 0",
        craft(`{${t("a", "U8", [4], [4, 8])}}`, d8),
        /tensor "a" at \[4, 8\) leaves a gap of 4/,
      ],
      [
        "uncovered tail",
        craft(`{${t("a", "U8", [4], [0, 4])}}`, d8),
        /4 bytes after the last tensor are not covered/,
      ],
      [
        "data section short",
        craft(`{${t("a", "U8", [16], [0, 16])}}`, d8),
        /tensor "a" at \[0, 16\) runs past the 8-byte data section/,
      ],
      [
        "metadata not strings",
        craft('{"__metadata__":{"n":1}}'),
        /__metadata__ "n" must be a string, not 1/,
      ],
      [
        "metadata array",
        craft('{"__metadata__":["pt"]}'),
        /__metadata__ must be an object of strings/,
      ],
      [
        "metadata null",
        craft('{"__metadata__":null}'),
        /__metadata__ must be an object of strings, not null/,
      ],
      [
        "long name kept short",
        craft(`{${t("x".repeat(10_000), "U8", [1], [0, 2])}}`, d8),
        /tensor "x{76}\.\.\.: U8 \[1\] needs 1/,
      ],
    ];
    for (const [what, bytes, pattern] of cases) await rejects(path, bytes, pattern, what);
  });
});

/** Opens a file and reads every tensor; only SafetensorsError may be thrown. */
async function probe(path: string, bytes: Uint8Array, what: string): Promise<boolean> {
  await Deno.writeFile(path, bytes);
  let f;
  try {
    f = await openSafetensors(path);
  } catch (e) {
    assert.ok(e instanceof SafetensorsError, `${what}: ${e}`);
    return false;
  }
  try {
    let covered = 0;
    for (const [name, info] of f.tensors) {
      const b = await f.readBytes(name);
      assert.equal(b.length, info.end - info.begin, what);
      covered += b.length;
      if (/^(F32|F16|BF16)$/.test(info.dtype)) await f.readF32(name);
      if (info.dtype === "I64" || info.dtype === "I32") {
        await f.readI32(name).catch((e) =>
          assert.ok(e instanceof SafetensorsError, `${what}: ${e}`)
        );
      }
    }
    assert.equal(f.dataStart + covered, bytes.length, `${what}: tensors cover the data`);
    return true;
  } finally {
    f.close();
  }
}

async function validFile(path: string): Promise<Uint8Array> {
  await writeSafetensors(path, [
    { name: "enc.w", dtype: "F32", shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
    { name: "enc.h", dtype: "F16", shape: [4], data: Float16Array.of(1, 2, 3, 4) },
    { name: "enc.b", dtype: "BF16", shape: [2], data: bf16([1, 2]) },
    { name: "pos", dtype: "I64", shape: [3], data: BigInt64Array.of(0n, 1n, 2n) },
  ], { format: "pt" });
  return await Deno.readFile(path);
}

Deno.test("safetensors fuzz: every truncation is refused", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "fuzz.safetensors");
    const good = await validFile(path);
    assert.ok(await probe(path, good, "the valid file"));
    for (let n = 0; n < good.length; n++) {
      assert.equal(await probe(path, good.subarray(0, n), `truncated at ${n}`), false);
    }
  });
});

Deno.test("safetensors fuzz: seeded byte mutations are refused or read consistently", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "fuzz.safetensors");
    const good = await validFile(path);
    const headerEnd = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    const rng = new Rng(20240611);
    const alphabet = enc.encode('{}[]":,0123456789-.eE" \\uFxyz');
    let accepted = 0;
    for (let c = 0; c < 400; c++) {
      const bytes = good.slice();
      const edits = 1 + rng.int(4);
      for (let e = 0; e < edits; e++) {
        // Mostly the header (where the structure is), sometimes its length or the data.
        const r = rng.next();
        const at = r < 0.1
          ? rng.int(8)
          : r < 0.9
          ? 8 + rng.int(headerEnd - 8)
          : rng.int(bytes.length);
        const kind = rng.next();
        bytes[at] = kind < 0.4
          ? bytes[at] ^ (1 << rng.int(8))
          : kind < 0.7
          ? alphabet[rng.int(alphabet.length)]
          : rng.int(256);
      }
      if (await probe(path, bytes, `mutation case ${c}`)) accepted++;
    }
    // Data-only and padding edits keep a file valid; most header edits must not.
    assert.ok(accepted > 0 && accepted < 200, `${accepted} of 400 mutated files accepted`);
  });
});

Deno.test("safetensors: reader misuse and writer errors", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "t.safetensors");
    await assert.rejects(openSafetensors(join(dir, "nope")), /nope: cannot open/);
    await assert.rejects(openSafetensors(dir), /header: cannot read: Is a directory/);
    await writeSafetensors(path, [
      { name: "ids", dtype: "I64", shape: [2], data: BigInt64Array.of(1n, 2n ** 40n) },
    ]);
    const f = await openSafetensors(path);
    await assert.rejects(f.readF32("ids"), /tensor "ids" is I64; only F32, F16, BF16/);
    await assert.rejects(f.readI32("ids"), /tensor "ids": value 1099511627776 at 1 does not fit/);
    assert.throws(() => f.info("x"), /t\.safetensors: no tensor "x"/);
    f.close();
    await assert.rejects(f.readBytes("ids"), /read after close/);

    // A failed write leaves the old file as it was and no temporary file behind.
    const before = await Deno.readFile(path);
    await assert.rejects(
      writeSafetensors(path, [
        { name: "a", dtype: "F32", shape: [3], data: () => Promise.resolve(new Float32Array(2)) },
      ]),
      /tensor "a": F32 \[3\] needs 12 bytes, data has 8/,
    );
    await assert.rejects(
      writeSafetensors(path, [
        { name: "a", dtype: "U8", shape: [1], data: Uint8Array.of(1) },
        { name: "a", dtype: "U8", shape: [1], data: Uint8Array.of(1) },
      ]),
      /tensor "a": name used twice/,
    );
    await assert.rejects(
      writeSafetensors(path, [{
        name: "__metadata__",
        dtype: "U8",
        shape: [0],
        data: new Uint8Array(),
      }]),
      /tensor "__metadata__": the name is reserved/,
    );
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["t.safetensors"]);
  });
});

Deno.test("safetensors: lazy data is read ahead within 64 MiB, written in order; a failure keeps the old file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "t.safetensors");
    let inFlight = 0, most = 0;
    const started: string[] = [];
    // 40 entries of 4 MiB: at most 16 may be fetched at once (the 64 MiB window).
    const entries = Array.from({ length: 40 }, (_, i) => {
      const name = `t${String(i).padStart(2, "0")}`;
      return {
        name,
        dtype: "U8" as const,
        shape: [4 * 2 ** 20],
        data: async () => {
          started.push(name);
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, 1));
          inFlight--;
          return new Uint8Array(4 * 2 ** 20).fill(i);
        },
      };
    });
    await writeSafetensors(path, entries);
    assert.deepEqual(started, entries.map((e) => e.name), "fetched in file order");
    assert.ok(most > 1 && most <= 16, `${most} reads in flight`);
    const f = await openSafetensors(path);
    try {
      for (const i of [0, 17, 39]) {
        assert.equal((await f.readBytes(`t${String(i).padStart(2, "0")}`))[5], i);
      }
    } finally {
      f.close();
    }
    const before = await Deno.readFile(path);
    await assert.rejects(
      writeSafetensors(path, [
        { name: "a", dtype: "U8", shape: [1], data: () => Promise.resolve(Uint8Array.of(1)) },
        { name: "b", dtype: "U8", shape: [1], data: () => Promise.reject(new Error("GPU lost")) },
        { name: "c", dtype: "U8", shape: [1], data: () => Promise.reject(new Error("also lost")) },
      ]),
      /GPU lost/,
    );
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), [
      "t.safetensors",
    ]);
  });
});

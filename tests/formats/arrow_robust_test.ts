// Corrupted Arrow input gives a clean error, quickly: seeded truncations, byte flips and
// zeroed ranges of each bundled schema's file either still read to rows or throw a UserError
// naming the file, with no stack trace, each in well under 2 s. Plus the value checks (int64
// past 2^53, negative heads, empty words) and save_to_disk's refusal of paths outside its
// folder.
import assert from "node:assert/strict";
import { join } from "node:path";
import * as A from "apache-arrow";
import { UserError } from "../../src/errors.ts";
import { countRows, readRows } from "../../src/formats/arrow.ts";
import { writeArrow } from "../../src/formats/arrow_write.ts";
import type { DepRow, SchemaName, TrexRow } from "../../src/formats/schemas.ts";
import { Rng } from "../../src/nn/init.ts";
import { corruptions, impostors } from "../fuzz/corrupt.ts";

const dir = await Deno.makeTempDir({ prefix: "kadapter_arrow_robust_" });
const root = new URL("../../", import.meta.url).pathname;

// One bundled file per schema (the dev splits: small, so hundreds of variants stay quick).
const BUNDLED: [string, SchemaName][] = [
  ["data/world/trex_dev.arrow", "trex-rc"],
  ["data/world/corpus.arrow", "text"],
  ["data/deps/dev.arrow", "dependency"],
  ["data/tasks/entity_typing_dev.arrow", "entity-typing"],
  ["data/tasks/relation_dev.arrow", "relation"],
  ["data/tasks/multiple_choice_dev.arrow", "multiple-choice"],
  ["data/tasks/span_qa_dev.arrow", "span-qa"],
];

async function readAll(path: string, schema: SchemaName): Promise<number> {
  let n = 0;
  for await (const rows of readRows(path, schema)) n += rows.length;
  return n;
}

/** Reads `path` and returns "ok" or the refusal, asserting it is a clean UserError. */
async function outcome(path: string, schema: SchemaName): Promise<"ok" | "refused"> {
  try {
    await readAll(path, schema);
    await countRows(path);
    return "ok";
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    assert.ok(e.message.includes(path), `message does not name the file: ${e.message}`);
    assert.doesNotMatch(e.message, /^\s+at /m, "a stack-like line");
    assert.doesNotMatch(e.message, /\n/, "one paragraph");
    return "refused";
  }
}

Deno.test("corrupted variants of every bundled schema read or are refused, each quickly", async () => {
  const rng = new Rng(20251202), counts = { ok: 0, refused: 0 };
  let slowest = { ms: 0, name: "" };
  for (const [file, schema] of BUNDLED) {
    const bytes = await Deno.readFile(join(root, file));
    const variants = [...corruptions(bytes, rng, { perKind: 6 }), ...impostors()];
    for (const [i, v] of variants.entries()) {
      const path = join(dir, `${schema}_${i}.arrow`);
      await Deno.writeFile(path, v.bytes);
      const t = performance.now();
      let got: "ok" | "refused";
      try {
        got = await outcome(path, schema);
      } catch (e) {
        throw new Error(`${file}, ${v.name}: not a clean refusal`, { cause: e });
      }
      const ms = performance.now() - t;
      assert.ok(ms < 2000, `${file}, ${v.name}: took ${ms.toFixed(0)} ms`);
      if (ms > slowest.ms) slowest = { ms, name: `${file}, ${v.name}` };
      counts[got]++;
      await Deno.remove(path);
    }
  }
  console.log(
    `${counts.ok + counts.refused} variants: ${counts.ok} read, ${counts.refused} refused; ` +
      `slowest ${slowest.ms.toFixed(0)} ms (${slowest.name})`,
  );
  assert.ok(counts.refused > counts.ok / 4 && counts.ok > 0);
});

Deno.test("a flipped footer vtable size (once 26 s and gigabytes) is refused at once", async () => {
  const bytes = await Deno.readFile(join(root, "data/world/corpus.arrow"));
  // The footer's schema vtable: its size 8 becoming 520 let apache-arrow read custom_metadata
  // at a garbage offset and build hundreds of millions of key-value pairs.
  const p = join(dir, "vtable.arrow"), b = bytes.slice();
  b[b.length - 93] ^= 2;
  await Deno.writeFile(p, b);
  const t = performance.now();
  await assert.rejects(readAll(p, "text"), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /vtable.*damaged or truncated.*kadapter data convert --format text/);
    return true;
  });
  assert.ok(performance.now() - t < 500);
});

Deno.test("a record batch block holding an unknown message type (once a hang) is refused", async () => {
  const bytes = await Deno.readFile(join(root, "data/world/corpus.arrow"));
  const p = join(dir, "header_type.arrow"), b = bytes.slice();
  assert.equal(b[51], 3); // the first record batch message's header type
  b[51] = 0x77;
  await Deno.writeFile(p, b);
  await assert.rejects(readAll(p, "text"), /message of unknown type 119/);
});

Deno.test("footer and message lengths must fit the file", async () => {
  const good = join(dir, "good.arrow");
  const rows: DepRow[] = [{ tokens: ["dogs", "bark"], heads: [2, 0] }];
  await writeArrow(good, "dependency", rows, { format: "file" });
  const bytes = await Deno.readFile(good);
  const cases: [string, (b: Uint8Array) => void, RegExp][] = [
    [
      "huge footer length",
      (b) => new DataView(b.buffer).setInt32(b.length - 10, 1e9, true),
      /footer length/,
    ],
    [
      "negative footer",
      (b) => new DataView(b.buffer).setInt32(b.length - 10, -5, true),
      /footer length/,
    ],
    ["no end magic", (b) => b.fill(0, b.length - 6), /no ARROW1 at its end/],
  ];
  for (const [name, spoil, message] of cases) {
    const b = bytes.slice(), p = join(dir, `${name.replaceAll(" ", "_")}.arrow`);
    spoil(b);
    await Deno.writeFile(p, b);
    await assert.rejects(readAll(p, "dependency"), message, name);
    await assert.rejects(countRows(p), message, name);
  }
  // A stream whose first message declares more metadata than the file holds.
  const s = join(dir, "stream.arrow");
  await writeArrow(s, "dependency", rows, { format: "stream" });
  const sb = await Deno.readFile(s);
  new DataView(sb.buffer).setInt32(4, 1 << 30, true);
  await Deno.writeFile(s, sb);
  await assert.rejects(readAll(s, "dependency"), /message metadata of 1073741824 bytes/);
});

const int64Trex = new A.Schema([
  new A.Field("token", new A.List(new A.Field("item", new A.Utf8(), true))),
  ...["subj_start", "subj_end", "obj_start", "obj_end"].map((n) => new A.Field(n, new A.Int64())),
  new A.Field("relation", new A.Utf8()),
]);
const trex = (over: Partial<Record<keyof TrexRow, unknown>>) =>
  ({
    token: ["Paris", "is", "in", "France"],
    subj_start: 0,
    subj_end: 0,
    obj_start: 3,
    obj_end: 3,
    relation: "P17",
    ...over,
  }) as unknown as TrexRow;

Deno.test("bad values name the file, row, column and value", async () => {
  const cases: [string, TrexRow, RegExp][] = [
    [
      "int64 past 2^53",
      trex({ obj_end: 2n ** 60n }),
      /row 1, field obj_end: 1152921504606846976 is outside the safe/,
    ],
    ["negative start", trex({ subj_start: -4 }), /row 1, field subj_start: -4 is outside/],
    ["huge end", trex({ obj_end: 2 ** 40 }), /row 1, field obj_end: 1099511627776 is outside/],
    [
      "empty word",
      trex({ token: ["Paris", "", "France", "x"] }),
      /row 1, field token\[1\]: "" is an empty word/,
    ],
    [
      "blank word",
      trex({ token: ["Paris", " ", "France", "x"] }),
      /row 1, field token\[1\]: " " is an empty word/,
    ],
  ];
  for (const [name, bad, message] of cases) {
    const p = join(dir, `value_${name.replaceAll(" ", "_")}.arrow`);
    await writeArrow(p, "trex-rc", [trex({}), bad], { schema: int64Trex });
    await assert.rejects(readAll(p, "trex-rc"), (e: Error) => {
      assert.ok(e instanceof UserError, name);
      assert.ok(e.message.startsWith(p), name);
      assert.match(e.message, message, name);
      return true;
    });
  }
  const dep = join(dir, "heads.arrow");
  await writeArrow(dep, "dependency", [{ tokens: ["a", "b"], heads: [2, -1] }]);
  await assert.rejects(readAll(dep, "dependency"), /row 0, field heads\[1\]: -1 is outside/);
  const empty = join(dir, "empty_token.arrow");
  await writeArrow(empty, "dependency", [{ tokens: ["a", ""], heads: [0, 1] }]);
  await assert.rejects(
    readAll(empty, "dependency"),
    /row 0, field tokens\[1\]: "" is an empty word/,
  );
});

async function folder(name: string, state: unknown): Promise<string> {
  const f = join(dir, name);
  await Deno.mkdir(f, { recursive: true });
  await writeArrow(join(f, "data-00000-of-00001.arrow"), "dependency", [
    { tokens: ["a"], heads: [0] },
  ], { format: "stream" });
  await Deno.writeTextFile(
    join(f, "state.json"),
    typeof state === "string" ? state : JSON.stringify(state),
  );
  return f;
}

Deno.test("save_to_disk state.json may only name files inside its folder", async () => {
  const outside = join(dir, "elsewhere.arrow");
  await writeArrow(outside, "dependency", [{ tokens: ["x"], heads: [0] }]);
  const ok = await folder("plain", { _data_files: [{ filename: "data-00000-of-00001.arrow" }] });
  assert.equal(await countRows(ok), 1);
  const bad: [string, unknown, RegExp][] = [
    [
      "up",
      { _data_files: [{ filename: "../elsewhere.arrow" }] },
      /_data_files\[0\]\.filename: "\.\.\/elsewhere\.arrow" is not a plain file name/,
    ],
    ["upup", { _data_files: [{ filename: "../../elsewhere.arrow" }] }, /is not a plain file name/],
    ["absolute", { _data_files: [{ filename: outside }] }, /is not a plain file name/],
    ["sub", { _data_files: [{ filename: "a/b.arrow" }] }, /is not a plain file name/],
    ["dotdot", { _data_files: [{ filename: ".." }] }, /is not a plain file name/],
    ["number", { _data_files: [{ filename: 3 }] }, /_data_files\[0\]\.filename: 3 is not/],
    ["no name", { _data_files: [{}] }, /_data_files\[0\]\.filename: missing is not/],
    ["not a list", { _data_files: "x" }, /_data_files: no list of data files/],
    ["not json", "{not json", /state\.json: json, field \(file\): not JSON/],
    ["array", "[]", /state\.json: json, field \(file\): expected a JSON object/],
  ];
  for (const [name, state, message] of bad) {
    const f = await folder(`bad_${name}`, state);
    await assert.rejects(readAll(f, "dependency"), (e: Error) => {
      assert.ok(e instanceof UserError, name);
      assert.match(e.message, message, name);
      return true;
    });
  }
});

Deno.test("a DatasetDict's split names must be plain folder names", async () => {
  const dict = join(dir, "dict");
  await folder("dict/train", { _data_files: [{ filename: "data-00000-of-00001.arrow" }] });
  const write = (v: string) => Deno.writeTextFile(join(dict, "dataset_dict.json"), v);
  await write(JSON.stringify({ splits: ["train"] }));
  assert.equal(await countRows(dict, "train"), 1);
  for (
    const [v, message] of [
      [
        JSON.stringify({ splits: ["../plain"] }),
        /splits\[0\]: "\.\.\/plain" is not a plain folder name/,
      ],
      [JSON.stringify({ splits: "train" }), /field splits: expected a list/],
      ["nope", /dataset_dict\.json: json, field \(file\): not JSON/],
    ] as const
  ) {
    await write(v);
    await assert.rejects(countRows(dict, "../plain"), message);
  }
});

// Arrow datasets: both schemas round-trip through IPC files and streams, save_to_disk folders
// and DatasetDicts read back shard by shard, Hugging Face's wide types (large_string,
// large_list, int64) are accepted, rows arrive batch by batch, counts read metadata only,
// and schema and value errors name file, row and field.
import assert from "node:assert/strict";
import { join } from "node:path";
import * as A from "apache-arrow";
import { countRows, readRows, splits } from "../../src/formats/arrow.ts";
import { writeArrow } from "../../src/formats/arrow_write.ts";
import { DataError, type DepRow, type TrexRow } from "../../src/formats/schemas.ts";

const dir = await Deno.makeTempDir({ prefix: "kadapter_arrow_" });

const trex = (i: number): TrexRow => ({
  token: ["Paris", "is", "in", "France", String(i)],
  subj_start: 0,
  subj_end: 0,
  obj_start: 3,
  obj_end: 3 + (i % 2),
  relation: `P${17 + (i % 3)}`,
});
const dep = (i: number): DepRow => ({ tokens: ["dogs", "bark", `x${i}`], heads: [2, 0, 2] });
const TREX = Array.from({ length: 23 }, (_, i) => trex(i));
const DEP = Array.from({ length: 23 }, (_, i) => dep(i));

async function all<T>(batches: AsyncIterable<T[]>): Promise<T[]> {
  const rows: T[] = [];
  for await (const b of batches) rows.push(...b);
  return rows;
}

for (const format of ["file", "stream"] as const) {
  Deno.test(`trex-rc and dependency round-trip through an IPC ${format}`, async () => {
    const t = join(dir, `trex_${format}.arrow`), d = join(dir, `dep_${format}.arrow`);
    assert.equal(await writeArrow(t, "trex-rc", TREX, { format, batchRows: 5 }), 23);
    assert.equal(await writeArrow(d, "dependency", DEP, { format }), 23);
    assert.deepEqual(await all(readRows(t, "trex-rc")), TREX);
    assert.deepEqual(await all(readRows(d, "dependency")), DEP);
    assert.equal(await countRows(t), 23);
    assert.equal(await countRows(d), 23);
  });
}

Deno.test("rows stream batch by batch", async () => {
  const p = join(dir, "batches.arrow");
  await writeArrow(p, "dependency", DEP, { format: "stream", batchRows: 10 });
  const sizes: number[] = [];
  for await (const b of readRows(p, "dependency")) sizes.push(b.length);
  assert.deepEqual(sizes, [10, 10, 3]);
});

const list = (t: A.DataType) => new A.LargeList(new A.Field("item", t, true));
const WIDE_TREX = new A.Schema([
  new A.Field("token", list(new A.LargeUtf8())),
  ...["subj_start", "subj_end", "obj_start", "obj_end"].map((n) => new A.Field(n, new A.Int64())),
  new A.Field("relation", new A.LargeUtf8()),
]);
const WIDE_DEP = new A.Schema([
  new A.Field("tokens", list(new A.LargeUtf8())),
  new A.Field("heads", list(new A.Int64())),
]);

Deno.test("large_string, large_list and int64 columns read as the documented schemas", async () => {
  const t = join(dir, "wide_trex.arrow"), d = join(dir, "wide_dep.arrow");
  await writeArrow(t, "trex-rc", TREX, { schema: WIDE_TREX });
  await writeArrow(d, "dependency", DEP, { schema: WIDE_DEP, format: "stream" });
  assert.deepEqual(await all(readRows(t, "trex-rc")), TREX);
  assert.deepEqual(await all(readRows(d, "dependency")), DEP);
});

/** A `datasets` save_to_disk folder: stream-format shards listed in state.json. */
async function saveToDisk(folder: string, rows: DepRow[], shards: number) {
  await Deno.mkdir(folder, { recursive: true });
  const per = Math.ceil(rows.length / shards), names: string[] = [];
  for (let k = 0; k < shards; k++) {
    const name = `data-${String(k).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.arrow`;
    names.push(name);
    const part = rows.slice(k * per, (k + 1) * per);
    await writeArrow(join(folder, name), "dependency", part, {
      format: "stream",
      schema: WIDE_DEP,
    });
  }
  const state = { _data_files: names.map((filename) => ({ filename })), _split: null };
  await Deno.writeTextFile(join(folder, "state.json"), JSON.stringify(state));
  await Deno.writeTextFile(join(folder, "dataset_info.json"), JSON.stringify({ features: {} }));
}

Deno.test("a save_to_disk folder reads its shards in state.json's order", async () => {
  const folder = join(dir, "ds");
  await saveToDisk(folder, DEP, 3);
  assert.deepEqual(await all(readRows(folder, "dependency")), DEP);
  assert.equal(await countRows(folder), 23);
  assert.equal(await splits(folder), null);
});

Deno.test("a DatasetDict reads one split at a time and asks for a split otherwise", async () => {
  const folder = join(dir, "dict");
  await saveToDisk(join(folder, "train"), DEP.slice(0, 20), 2);
  await saveToDisk(join(folder, "validation"), DEP.slice(20), 1);
  await Deno.writeTextFile(
    join(folder, "dataset_dict.json"),
    JSON.stringify({ splits: ["train", "validation"] }),
  );
  assert.deepEqual(await splits(folder), ["train", "validation"]);
  assert.deepEqual(await all(readRows(folder, "dependency", "train")), DEP.slice(0, 20));
  assert.deepEqual(await all(readRows(folder, "dependency", "validation")), DEP.slice(20));
  assert.equal(await countRows(folder, "validation"), 3);
  await assert.rejects(all(readRows(folder, "dependency")), /pick one of: train,validation/);
});

Deno.test("schema errors name the file and the column", async () => {
  const p = join(dir, "dep_as_trex.arrow");
  await writeArrow(p, "dependency", DEP);
  await assert.rejects(all(readRows(p, "trex-rc")), (e: DataError) => {
    assert.ok(e instanceof DataError);
    assert.equal(
      e.message,
      `${p}: schema, field token: missing list<string> column: the file holds the dependency ` +
        "schema, not trex-rc (token, subj_start, subj_end, obj_start, obj_end, relation); the " +
        "trex-rc schema comes from `kadapter data convert --format trex-rc-json --input SOURCE " +
        "--out X.arrow`",
    );
    return true;
  });
  const wrong = join(dir, "wrong_type.arrow");
  const schema = new A.Schema([
    new A.Field("tokens", new A.List(new A.Field("item", new A.Utf8()))),
    new A.Field("heads", new A.List(new A.Field("item", new A.Utf8()))),
  ]);
  await writeArrow(wrong, "dependency", [{ tokens: ["a"], heads: ["0"] }] as never, { schema });
  await assert.rejects(all(readRows(wrong, "dependency")), /field heads: is List<Utf8>, expected/);
});

Deno.test("value errors name the file, the row and the field", async () => {
  const cases: [string, DepRow, RegExp][] = [
    ["len", { tokens: ["a", "b"], heads: [0] }, /row 23, field heads: 1 heads for 2 tokens/],
    ["big", { tokens: ["a", "b"], heads: [0, 3] }, /row 23, field heads\[1\]: 3 is outside/],
  ];
  for (const [name, bad, message] of cases) {
    const p = join(dir, `bad_${name}.arrow`);
    await writeArrow(p, "dependency", [...DEP, bad], { batchRows: 7 });
    await assert.rejects(all(readRows(p, "dependency")), (e: Error) => {
      assert.ok(e.message.startsWith(`${p}: `), e.message);
      assert.match(e.message, message);
      return true;
    });
  }
  const p = join(dir, "bad_span.arrow");
  await writeArrow(p, "trex-rc", [{ ...trex(0), obj_end: 5 }]);
  await assert.rejects(all(readRows(p, "trex-rc")), /row 0, field obj_end: 5 is outside \[3, 4\]/);
});

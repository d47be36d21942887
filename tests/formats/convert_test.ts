// Converters on small hand-written inputs: good rows land in the Arrow schema, a bad row
// stops the conversion naming file, line and field (and leaves no output), --skip-bad counts
// what it leaves out by reason; and `kadapter data convert` once as a user runs it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readRows } from "../../src/formats/arrow.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import type { SchemaName } from "../../src/formats/schemas.ts";
import { kadapter } from "../kadapter_cli.ts";

const dir = await Deno.makeTempDir({ prefix: "kadapter_convert_" });

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await Deno.writeTextFile(p, text);
  return p;
}

async function rows(path: string, schema: SchemaName): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const b of readRows(path, schema)) out.push(...b);
  return out;
}

const GOOD_TREX = {
  token: ["Paris", "is", "the", "capital", "of", "France"],
  subj_start: 0,
  subj_end: 0,
  obj_start: 5,
  obj_end: 5,
  relation: "P1376",
};

Deno.test("trex-rc-json: a JSON array, extra fields dropped", async () => {
  const input = await file("trex.json", JSON.stringify([{ ...GOOD_TREX, subj_label: "Q90" }]));
  const out = join(dir, "trex.arrow");
  assert.deepEqual(await convert("trex-rc-json", input, out), { rows: 1, skipped: {} });
  assert.deepEqual(await rows(out, "trex-rc"), [GOOD_TREX]);
});

Deno.test("trex-rc-json: JSON lines with bad rows, stopped or skipped", async () => {
  const lines = [
    GOOD_TREX,
    { ...GOOD_TREX, obj_end: 6 },
    { ...GOOD_TREX, relation: undefined },
    GOOD_TREX,
  ].map((r) => JSON.stringify(r));
  const input = await file("trex.jsonl", [...lines, "", "{oops"].join("\n") + "\n");
  const out = join(dir, "trex_lines.arrow");
  await assert.rejects(
    convert("trex-rc-json", input, out),
    new RegExp(`${input}: line 2, field obj_end: 6 is outside \\[5, 5\\]$`),
  );
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  const r = await convert("trex-rc-json", input, out, { skipBad: true });
  assert.deepEqual(r, {
    rows: 2,
    skipped: { "obj_end out of range": 1, "relation missing": 1, "bad JSON": 1 },
  });
  assert.deepEqual(await rows(out, "trex-rc"), [GOOD_TREX, GOOD_TREX]);
  assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
});

Deno.test("find-head-json: tokens/token and heads/head", async () => {
  const input = await file(
    "heads.json",
    JSON.stringify([
      { tokens: ["dogs", "bark"], heads: [2, 0] },
      { token: ["it", "rains"], head: [2, 0] },
      { tokens: ["a", "b"], heads: [0] },
      { tokens: ["a"], heads: ["0"] },
    ]),
  );
  const out = join(dir, "heads.arrow");
  await assert.rejects(
    convert("find-head-json", input, out),
    /heads\.json: item 2, field heads: 1 heads for 2 tokens/,
  );
  const r = await convert("find-head-json", input, out, { skipBad: true });
  assert.deepEqual(r.skipped, { "heads length != tokens length": 1, "heads wrong type": 1 });
  assert.deepEqual(await rows(out, "dependency"), [
    { tokens: ["dogs", "bark"], heads: [2, 0] },
    { tokens: ["it", "rains"], heads: [2, 0] },
  ]);
});

const row = (...cols: (string | number)[]) => cols.join("\t");
const CONLLU = [
  "# sent_id = 1",
  "# text = Don't go.",
  row("1-2", "Don't", "_", "_", "_", "_", "_", "_", "_", "_"),
  row(1, "Do", "do", "AUX", "_", "_", 3, "aux", "_", "_"),
  row(2, "n't", "not", "PART", "_", "_", 3, "advmod", "_", "_"),
  row(3, "go", "go", "VERB", "_", "_", 0, "root", "_", "_"),
  row("3.1", "went", "go", "VERB", "_", "_", "_", "_", "3:conj", "_"),
  row(4, ".", ".", "PUNCT", "_", "_", 3, "punct", "_", "_"),
  "",
  "# sent_id = 2",
  row(1, "Hi", "hi", "INTJ", "_", "_", 0, "root", "_", "_"),
  row(2, "!", "!", "PUNCT", "_", "_", 9, "punct", "_", "_"),
  "",
  row(1, "Bad", "bad", "ADJ", "_", "_", "_", "root", "_", "_"),
  "",
  row(1, "Yes", "yes", "INTJ", "_", "_", 0, "root", "_", "_"),
].join("\n") + "\n";

Deno.test("conllu: ranges and empty nodes skipped, bad sentences stopped or skipped", async () => {
  const input = await file("tb.conllu", CONLLU);
  const out = join(dir, "tb.arrow");
  await assert.rejects(convert("conllu", input, out), /tb\.conllu: line 10, field heads\[1\]: 9/);
  const r = await convert("conllu", input, out, { skipBad: true });
  assert.deepEqual(r, {
    rows: 2,
    skipped: { "heads out of range": 1, "HEAD not an integer": 1 },
  });
  assert.deepEqual(await rows(out, "dependency"), [
    { tokens: ["Do", "n't", "go", "."], heads: [3, 3, 0, 3] },
    { tokens: ["Yes"], heads: [0] },
  ]);
});

Deno.test("kadapter data convert as a subprocess", async () => {
  const input = await file("cli.conllu", CONLLU), out = join(dir, "cli.arrow");
  const run = (...extra: string[]) =>
    kadapter("data", "convert", "--format", "conllu", "--in", input, "--out", out, ...extra);
  const failed = await run();
  assert.equal(failed.code, 1);
  assert.match(failed.err, /cli\.conllu: line 10, field heads\[1\]: 9 is outside \[0, 2\]/);
  const ok = await run("--skip-bad");
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /wrote 2 rows \(dependency schema\)/);
  assert.match(ok.out, /skipped 1: heads out of range/);
  assert.match(ok.out, /skipped 1: HEAD not an integer/);
  assert.equal((await rows(out, "dependency")).length, 2);
});

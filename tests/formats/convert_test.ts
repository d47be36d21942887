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

// Shaped as the released lin-adapter data: `tokens` as {"<i+1>": span} of `sent`, `pairs`
// with 1-based dependents and governors (0 = root), in any order.
const span = (i: number, start: number, end: number) => ({ [String(i)]: { start, end } });
const pair = (dependent_index: number, governor_index: number) => ({
  dep: "x",
  dependent_index,
  governor_index,
});
Deno.test("find-head-json: the released records, heads by dependent, root 0", async () => {
  const input = await file(
    "heads.json",
    JSON.stringify([
      {
        sent: "Dogs bark loudly.",
        tokens: [span(1, 0, 4), span(2, 5, 9), span(3, 10, 16), span(4, 16, 17)],
        pairs: [pair(2, 0), pair(1, 2), pair(4, 2), pair(3, 2)],
      },
      {
        sent: "\u{1F600} ok",
        tokens: [span(1, 0, 1), span(2, 2, 4)],
        pairs: [pair(2, 0), pair(1, 2)],
      },
      { sent: "a b", tokens: [span(1, 0, 1), span(2, 2, 3)], pairs: [pair(1, 0)] },
      { sent: "a b", tokens: [span(1, 0, 1), span(3, 2, 3)], pairs: [pair(1, 0), pair(2, 1)] },
      { sent: "a", tokens: [span(1, 0, 5)], pairs: [pair(1, 0)] },
      { sent: "a b", tokens: [span(1, 0, 1), span(2, 2, 3)], pairs: [pair(1, 0), pair(2, 3)] },
    ]),
  );
  const out = join(dir, "heads.arrow");
  await assert.rejects(
    convert("find-head-json", input, out),
    /heads\.json: item 2, field pairs: no pair for word 2/,
  );
  const r = await convert("find-head-json", input, out, { skipBad: true });
  assert.deepEqual(r.skipped, {
    "word without head": 1,
    "tokens[] wrong type": 1,
    "token span out of range": 1,
    "heads out of range": 1,
  });
  assert.deepEqual(await rows(out, "dependency"), [
    { tokens: ["Dogs", "bark", "loudly", "."], heads: [2, 0, 2, 2] },
    { tokens: ["\u{1F600}", "ok"], heads: [2, 0] },
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
    kadapter("data", "convert", "--format", "conllu", "--input", input, "--out", out, ...extra);
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

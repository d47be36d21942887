// The bundled datasets: they read back through the Arrow layer with their schemas (every row is
// validated by readRows), their sizes are sane, every T-REx sentence states a listed fact, the
// CoNLL-U sample converts, and regenerating gives the same bytes.
import assert from "node:assert/strict";
import { countRows, readRows } from "../src/formats/arrow.ts";
import { conllu } from "../src/formats/convert/conllu.ts";
import type { Rows, SchemaName } from "../src/formats/schemas.ts";
import { type Fact, writeWorld } from "../data/make_world.ts";
import { writeDeps } from "../data/make_deps.ts";

const data = (p: string) => new URL(`../data/${p}`, import.meta.url).pathname;

async function all<S extends SchemaName>(path: string, name: S): Promise<Rows[S][]> {
  const rows: Rows[S][] = [];
  for await (const batch of readRows(path, name)) rows.push(...batch);
  return rows;
}

const lines = (path: string) => Deno.readTextFileSync(path).trimEnd().split("\n");

Deno.test("world: T-REx sentences state listed facts, over every relation", async () => {
  const facts: Fact[] = lines(data("world/facts.jsonl")).map((l) => JSON.parse(l));
  const known = new Set(facts.map((f) => `${f.subject}|${f.relation}|${f.object}`));
  const relations = lines(data("world/relations.jsonl")).map((l) => JSON.parse(l));
  const ids = new Set(relations.map((r) => r.relation));
  assert.ok(ids.size >= 10 && ids.size <= 15);
  for (const r of relations) {
    assert.match(r.template, /\[X\].*\[Y\]|\[Y\].*\[X\]/);
    assert.ok(["1-1", "N-1", "N-M"].includes(r.type) && r.label);
  }
  const sentences: string[] = [];
  for (const split of ["train", "dev"]) {
    const path = data(`world/trex_${split}.arrow`);
    const rows = await all(path, "trex-rc");
    assert.equal(await countRows(path), rows.length);
    assert.ok(rows.length >= (split === "train" ? 2000 : 200), `${split}: ${rows.length}`);
    const seen = new Set<string>();
    for (const r of rows) sentences.push(r.token.join(" "));
    for (const r of rows) {
      const span = (s: number, e: number) => r.token.slice(s, e + 1).join(" ");
      const key = `${span(r.subj_start, r.subj_end)}|${r.relation}|${span(r.obj_start, r.obj_end)}`;
      assert.ok(known.has(key), `${split}: ${r.token.join(" ")} states no fact (${key})`);
      seen.add(r.relation);
    }
    assert.deepEqual([...seen].sort(), [...ids].sort());
  }
  assert.equal(new Set(sentences).size, sentences.length, "a sentence repeats");
});

Deno.test("world: facts agree, and the corpus states none of them", () => {
  const facts: Fact[] = lines(data("world/facts.jsonl")).map((l) => JSON.parse(l));
  const one = (s: string, r: string) => facts.find((f) => f.subject === s && f.relation === r)!;
  for (const f of facts.filter((f) => f.relation === "P19")) {
    // citizenship = the birth city's country; language = that country's official language
    const country = one(f.object, "P17").object;
    assert.equal(one(f.subject, "P27").object, country);
    assert.equal(one(f.subject, "P1412").object, one(country, "P37").object);
  }
  for (const f of facts.filter((f) => f.relation === "P36")) {
    assert.equal(one(f.object, "P17").object, f.subject, "a capital lies in its country");
  }
  const corpus = lines(data("world/corpus_nofacts.txt"));
  assert.ok(corpus.length >= 1000);
  // A fact needs two entities in one sentence; every corpus line names exactly one.
  const names = new Set(facts.flatMap((f) => [f.subject, f.object]));
  for (const line of corpus) {
    const named = [...names].filter((n) => ` ${line} `.includes(` ${n} `));
    assert.equal(named.length, 1, `${line} names ${named}`);
  }
});

Deno.test("deps: trees are well formed and the CoNLL-U sample converts", async () => {
  for (const [split, min] of [["train", 2000], ["dev", 200]] as const) {
    const rows = await all(data(`deps/${split}.arrow`), "dependency");
    assert.ok(rows.length >= min, `${split}: ${rows.length}`);
    for (const r of rows) {
      assert.equal(r.heads.filter((h) => h === 0).length, 1, "one root");
      // Every word reaches the root without a cycle.
      r.heads.forEach((_, i) => {
        let at = i + 1;
        for (let steps = 0; at !== 0; steps++, at = r.heads[at - 1]) {
          assert.ok(steps <= r.heads.length, `cycle in ${r.tokens.join(" ")}`);
        }
      });
    }
  }
  let sentences = 0;
  for await (const item of conllu(data("deps/sample.conllu"))) {
    assert.ok("row" in item, JSON.stringify(item));
    sentences++;
  }
  assert.ok(sentences >= 24, `${sentences} sentences`);
});

Deno.test("regenerating gives byte-identical files", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "kadapter_data_" });
  try {
    await writeWorld(`${tmp}/world`);
    await writeDeps(`${tmp}/deps`);
    // world/encoder/ comes from a GPU run (data/make_encoder.ts), not from these scripts.
    for (const dir of ["world", "deps"]) {
      for (const e of [...Deno.readDirSync(data(dir))].filter((e) => e.isFile)) {
        const fresh = Deno.readFileSync(`${tmp}/${dir}/${e.name}`);
        assert.deepEqual(fresh, Deno.readFileSync(data(`${dir}/${e.name}`)), `${dir}/${e.name}`);
      }
    }
    const size = (dir: string) =>
      [...Deno.readDirSync(data(dir))].filter((e) => e.isFile)
        .reduce((s, e) => s + Deno.statSync(data(`${dir}/${e.name}`)).size, 0);
    assert.ok(size("world") < 1_000_000, `data/world's files are ${size("world")} bytes`);
    assert.ok(size("world/encoder") < 1_500_000, `the encoder is ${size("world/encoder")} bytes`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

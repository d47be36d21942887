// LAMA and plain-text converters on small hand-written inputs: templates filled, duplicates
// and Google-RE facts with more "no" than "yes" judgments left out and counted, bad rows
// stopped (naming file, line and field) or skipped by reason; the bundled world's facts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readRows } from "../../src/formats/arrow.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import { fillTemplate, readRelations } from "../../src/formats/convert/lama.ts";
import type { SchemaName } from "../../src/formats/schemas.ts";
import { kadapter } from "../kadapter_cli.ts";

const dir = await Deno.makeTempDir({ prefix: "kadapter_lama_convert_" });
const WORLD = new URL("../../data/world/", import.meta.url).pathname;

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await Deno.mkdir(join(p, ".."), { recursive: true });
  await Deno.writeTextFile(p, text);
  return p;
}
const jsonl = (...objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join("\n") + "\n";

async function rows(path: string, schema: SchemaName): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const b of readRows(path, schema)) out.push(...b);
  return out;
}

const RELATIONS = jsonl(
  { relation: "P19", template: "[X] was born in [Y] .", type: "N-1" },
  { relation: "P36", template: "The capital of [X] is [Y] .", type: "1-1" },
  { relation: "place_of_birth", template: "[X] was born in [Y] ." },
  { relation: "date_of_birth", template: "[X] (born [Y])." },
);
const relations = await file("relations.jsonl", RELATIONS);

Deno.test("fillTemplate: [X] is the subject, [Y] becomes [MASK], $ patterns stay literal", () => {
  assert.equal(
    fillTemplate("The capital of [X] is [Y] .", "France"),
    "The capital of France is [MASK] .",
  );
  assert.equal(fillTemplate("[X] was born in [Y] .", "A$&B"), "A$&B was born in [MASK] .");
});

Deno.test("readRelations: bad templates name file, line and field", async () => {
  assert.equal(
    (await readRelations(relations)).get("P36")?.template,
    "The capital of [X] is [Y] .",
  );
  const bad = await file("bad_rel.jsonl", jsonl({ relation: "P1", template: "[X] is [X] ." }));
  await assert.rejects(
    readRelations(bad),
    /bad_rel\.jsonl: line 1, field template: "\[X\] is \[X\] \." has 2 \[X\], expected 1$/,
  );
  const none = await file("none_rel.jsonl", jsonl({ template: "[X] [Y]" }));
  await assert.rejects(readRelations(none), /none_rel\.jsonl: line 1, field relation:/);
});

Deno.test("text: one row per non-blank line, kept as is", async () => {
  const input = await file("corpus.txt", " = Title = \n\nfirst line\r\n   \nlast line");
  const out = join(dir, "corpus.arrow");
  assert.deepEqual(await convert("text", input, out), { rows: 3, skipped: {} });
  assert.deepEqual(await rows(out, "text"), [
    { text: " = Title = " },
    { text: "first line" },
    { text: "last line" },
  ]);
});

const trex = (sub: string, obj: string, pred = "P19") => ({
  sub_label: sub,
  obj_label: obj,
  predicate_id: pred,
  evidences: [{ masked_sentence: `${sub} was born in [MASK].` }],
});

Deno.test("lama-trex: a folder of per-relation files, dedup, bad rows stopped or skipped", async () => {
  await file(
    "trex/P19.jsonl",
    jsonl(trex("Ann", "Paris"), trex("Bo", "Rome"), trex("Ann", "Paris")),
  );
  const p36 = await file(
    "trex/P36.jsonl",
    jsonl(trex("France", "Paris", "P36"), trex("Nowhere", "X", "P999")) + "{oops\n" +
      jsonl({ sub_label: "Italy", predicate_id: "P36" }),
  );
  await file("trex/README.txt", "not data");
  const out = join(dir, "trex.arrow");
  await assert.rejects(
    convert("lama-trex", join(dir, "trex"), out, { relations }),
    new RegExp(`${p36}: line 2, field relation: "P999" is not in ${relations}$`),
  );
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  await assert.rejects(
    convert("lama-trex", join(dir, "trex"), out),
    /needs the relation templates/,
  );
  const r = await convert("lama-trex", join(dir, "trex"), out, { relations, skipBad: true });
  assert.deepEqual(r, {
    rows: 3,
    skipped: {
      "duplicate (relation, subject, object)": 1,
      "no template for relation": 1,
      "bad JSON": 1,
      "obj_label missing": 1,
    },
  });
  const row = (relation: string, sub: string, obj: string, s: string) => ({
    relation,
    sub_label: sub,
    obj_label: obj,
    masked_sentence: s,
    source: "trex",
  });
  assert.deepEqual(await rows(out, "lama"), [
    row("P19", "Ann", "Paris", "Ann was born in [MASK] ."),
    row("P19", "Bo", "Rome", "Bo was born in [MASK] ."),
    row("P36", "France", "Paris", "The capital of France is [MASK] ."),
  ]);
});

Deno.test("lama-trex: the bundled world, one row per fact with the template filled", async () => {
  const out = join(dir, "world.arrow");
  const r = await convert("lama-trex", join(WORLD, "facts.jsonl"), out, {
    relations: join(WORLD, "relations.jsonl"),
  });
  const facts = (await Deno.readTextFile(join(WORLD, "facts.jsonl"))).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(r, { rows: facts.length, skipped: {} });
  const got = await rows(out, "lama") as Record<string, string>[];
  const templates = await readRelations(join(WORLD, "relations.jsonl"));
  assert.equal(got.length, facts.length);
  got.forEach((g, i) => {
    const f = facts[i];
    assert.deepEqual(g, {
      relation: f.relation,
      sub_label: f.subject,
      obj_label: f.object,
      masked_sentence: templates.get(f.relation)!.template.replace("[X]", f.subject).replace(
        "[Y]",
        "[MASK]",
      ),
      source: "trex",
    });
  });
  assert.ok(got.some((g) => g.masked_sentence === "Talport is located in [MASK] ."));
});

Deno.test("lama-google-re: relation from pred, judgments filter, dedup", async () => {
  const fact = (sub: string, obj: string, judgments: string[], pred = "place_of_birth") => ({
    pred: `/people/person/${pred}`,
    sub_label: sub,
    obj_label: obj,
    judgments: judgments.map((j) => ({ rater: "r", judgment: j })),
    masked_sentences: [`${sub} was born in [MASK].`],
  });
  const input = await file(
    "google_re.jsonl",
    jsonl(
      fact("Ann", "Paris", ["yes", "yes", "no"]),
      fact("Bo", "Rome", ["no", "no", "yes"]),
      fact("Cy", "Oslo", ["yes", "no"]), // a tie is kept: "no" does not outnumber "yes"
      fact("Ann", "Paris", ["yes"]),
      fact("Di", "1950", ["yes"], "date_of_birth"),
      fact("Ed", "Lima", ["yes"], "place_of_death"),
      { ...fact("Fy", "Kiev", ["yes"]), judgments: "yes" },
    ),
  );
  const out = join(dir, "google_re.arrow");
  await assert.rejects(
    convert("lama-google-re", input, out, { relations }),
    /google_re\.jsonl: line 6, field relation: "place_of_death" is not in/,
  );
  const r = await convert("lama-google-re", input, out, { relations, skipBad: true });
  assert.deepEqual(r, {
    rows: 3,
    skipped: {
      "judgments: more no than yes": 1,
      "duplicate (relation, subject, object)": 1,
      "no template for relation": 1,
      "judgments wrong type": 1,
    },
  });
  assert.deepEqual((await rows(out, "lama")).map((x) => Object.values(x as object)), [
    ["place_of_birth", "Ann", "Paris", "Ann was born in [MASK] .", "google-re"],
    ["place_of_birth", "Cy", "Oslo", "Cy was born in [MASK] .", "google-re"],
    ["date_of_birth", "Di", "1950", "Di (born [MASK]).", "google-re"],
  ]);
});

Deno.test("lama-masked: a row per masked sentence; ConceptNet and SQuAD layouts", async () => {
  const input = await file(
    "conceptnet.jsonl",
    jsonl(
      {
        sub: "alive",
        obj: "think",
        pred: "HasSubevent",
        masked_sentences: ["One of the things you do when you are alive is [MASK]."],
        obj_label: "think",
      },
      {
        sub_label: "dog",
        pred: "IsA",
        obj_label: "animal",
        masked_sentences: ["A dog is an [MASK].", "Dogs are [MASK] [MASK]."],
      },
      { obj_label: "x", masked_sentences: [] },
    ),
  );
  const out = join(dir, "conceptnet.arrow");
  await assert.rejects(
    convert("lama-masked", input, out),
    /conceptnet\.jsonl: line 2 \(masked_sentences\[1\]\), field masked_sentence: .* has 2 \[MASK\]/,
  );
  const r = await convert("lama-masked", input, out, { skipBad: true });
  assert.deepEqual(r, { rows: 2, skipped: { "several [MASK]": 1, "masked_sentences missing": 1 } });
  assert.deepEqual((await rows(out, "lama")).map((x) => Object.values(x as object)), [
    [
      "HasSubevent",
      "alive",
      "think",
      "One of the things you do when you are alive is [MASK].",
      "conceptnet",
    ],
    ["IsA", "dog", "animal", "A dog is an [MASK].", "conceptnet"],
  ]);
  const squad = await file(
    "squad.jsonl",
    jsonl({
      id: "1",
      sub_label: "Squad",
      obj_label: "1912",
      masked_sentences: ["It sank in [MASK]."],
    }),
  );
  await convert("lama-masked", squad, out, { source: "squad" });
  assert.deepEqual(await rows(out, "lama"), [{
    relation: "squad",
    sub_label: "Squad",
    obj_label: "1912",
    masked_sentence: "It sank in [MASK].",
    source: "squad",
  }]);
});

Deno.test("kadapter data convert --format lama-trex --relations, as a subprocess", async () => {
  const input = await file("cli/P19.jsonl", jsonl(trex("Ann", "Paris"), trex("Ann", "Paris")));
  const out = join(dir, "cli.arrow");
  const r = await kadapter(
    ...["data", "convert", "--format", "lama-trex", "--input", input],
    ...["--out", out, "--relations", relations],
  );
  const text = r.out;
  assert.equal(r.code, 0, r.err);
  assert.match(text, /wrote 1 rows \(lama schema\)/);
  assert.match(text, /skipped 1: duplicate \(relation, subject, object\)/);
});

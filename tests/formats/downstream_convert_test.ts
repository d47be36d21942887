// The downstream task formats: OpenEntity/FIGER, TACRED, CosmosQA and SearchQA/Quasar-T
// converters on small hand-written inputs (good rows land in the schema, a bad row stops the
// conversion naming file, line and field, --skip-bad counts reasons), each schema's value
// checks, and the bundled data/tasks samples (schemas, sizes, byte-identical regeneration).
import assert from "node:assert/strict";
import { join } from "node:path";
import { countRows, readRows } from "../../src/formats/arrow.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import { PROBLEM, type SchemaName } from "../../src/formats/schemas.ts";
import { ENTITY_LABELS, RELATION_LABELS, SIZES, writeTasks } from "../../data/make_tasks.ts";
import { kadapter } from "../kadapter_cli.ts";

const dir = await Deno.makeTempDir({ prefix: "kadapter_downstream_" });
const TASKS = new URL("../../data/tasks/", import.meta.url).pathname;

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await Deno.writeTextFile(p, text);
  return p;
}
const jsonl = (...objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join("\n") + "\n";

async function rows(path: string, schema: SchemaName): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const b of readRows(path, schema)) {
    out.push(...(b as unknown as Record<string, unknown>[]));
  }
  return out;
}

const SENT = "Bel Marton moved to Kelford in 1990 .";
const ENTITY = { sent: SENT, start: 20, end: 27, labels: ["location", "city"], ents: [] };

Deno.test("entity-typing-json: sent/text, offsets checked, stopped or skipped, unlabelled", async () => {
  const input = await file(
    "openentity.json",
    jsonl(
      ENTITY,
      { ...ENTITY, end: 99 },
      { ...ENTITY, labels: [] },
      { text: SENT, start: 0, end: 10, labels: ["person"] },
      { ...ENTITY, start: "20" },
      { sent: SENT, start: 20, end: 27 },
      { ...ENTITY, labels: ["city", ""] },
    ),
  );
  const out = join(dir, "et.arrow");
  await assert.rejects(
    convert("entity-typing-json", input, out),
    new RegExp(`${input}: line 2, field end: 99 is outside \\[21, 37\\]$`),
  );
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  const r = await convert("entity-typing-json", input, out, { skipBad: true });
  assert.deepEqual(r, {
    rows: 4,
    skipped: { "end out of range": 1, "label empty": 1, "start wrong type": 1 },
  });
  // No labels (empty or absent): unlabelled data for predict, stored as labels [].
  const got = await rows(out, "entity-typing");
  assert.deepEqual(got, [
    { text: SENT, start: 20, end: 27, labels: ["location", "city"] },
    { text: SENT, start: 20, end: 27, labels: [] },
    { text: SENT, start: 0, end: 10, labels: ["person"] },
    { text: SENT, start: 20, end: 27, labels: [] },
  ]);
  assert.equal(SENT.slice(20, 27), "Kelford");
});

const TACRED = {
  id: "e7798fb926b9403cfcd2",
  docid: "APW_ENG_20101103.0539",
  relation: "per:title",
  token: ["At", "the", "same", "time", ",", "Chief", "Financial", "Officer", "Douglas", "Flint"],
  subj_start: 8,
  subj_end: 9,
  obj_start: 5,
  obj_end: 7,
  subj_type: "PERSON",
  obj_type: "TITLE",
  stanford_pos: [],
};
const TACRED_ROW = {
  token: TACRED.token,
  subj_start: 8,
  subj_end: 9,
  obj_start: 5,
  obj_end: 7,
  relation: "per:title",
};

const { relation: _, ...UNLABELLED } = TACRED;
Deno.test("tacred-json: the official JSON array, extra fields dropped, bad spans, unlabelled", async () => {
  const input = await file(
    "tacred.json",
    JSON.stringify([
      TACRED,
      { ...TACRED, relation: "no_relation" },
      { ...TACRED, subj_end: 10 },
      UNLABELLED,
      { ...TACRED, relation: null },
      { ...TACRED, relation: 3 },
    ]),
  );
  const out = join(dir, "tacred.arrow");
  await assert.rejects(
    convert("tacred-json", input, out),
    /tacred\.json: item 2, field subj_end: 10 is outside \[8, 9\]$/,
  );
  const r = await convert("tacred-json", input, out, { skipBad: true });
  assert.deepEqual(r, {
    rows: 4,
    skipped: { "subj_end out of range": 1, "relation wrong type": 1 },
  });
  // A record without a relation is unlabelled data for predict: relation "".
  assert.deepEqual(await rows(out, "relation"), [
    TACRED_ROW,
    { ...TACRED_ROW, relation: "no_relation" },
    { ...TACRED_ROW, relation: "" },
    { ...TACRED_ROW, relation: "" },
  ]);
});

const COSMOS = {
  id:
    "3Q9(SPIIE4V5QGVJ6K7GU2R3K7JSI3HO##3GU1KF0O4I0I5YWQ5GSLA05L3A1PBT##A1S1K7134S2VUC##Blog_1044056##q1_a1##3XU9MCX6VQQG7YPLCSAFDPQNH4SR20",
  context: "Good Old War and person L : I saw both of these bands Wednesday night .",
  question: "In the future , will this person go to see other bands play ?",
  answer0: "None of the above choices .",
  answer1: "This person likes music and likes to see the show .",
  answer2: "This person only likes Good Old War and Person L .",
  answer3: "Other bands is not on the list .",
  label: "1",
};

Deno.test("cosmosqa-jsonl: string or integer labels, answers to choices, bad rows, unlabelled", async () => {
  const input = await file(
    "cosmos.jsonl",
    jsonl(
      COSMOS,
      { ...COSMOS, label: 3 },
      { ...COSMOS, label: "4" },
      { ...COSMOS, answer2: undefined },
      { ...COSMOS, label: undefined },
      { ...COSMOS, label: "one" },
      { ...COSMOS, question: " " },
    ),
  );
  const out = join(dir, "cosmos.arrow");
  await assert.rejects(
    convert("cosmosqa-jsonl", input, out),
    /cosmos\.jsonl: line 3, field label: 4 is outside \[0, 3\]$/,
  );
  const r = await convert("cosmosqa-jsonl", input, out, { skipBad: true });
  assert.deepEqual(r, {
    rows: 3,
    skipped: {
      "label out of range": 1,
      "answer2 missing": 1,
      "label wrong type": 1,
      "question empty": 1,
    },
  });
  // No label (the unlabelled test split): data for predict, stored as label -1.
  const choices = [COSMOS.answer0, COSMOS.answer1, COSMOS.answer2, COSMOS.answer3];
  const { context, question } = COSMOS;
  assert.deepEqual(await rows(out, "multiple-choice"), [
    { context, question, choices, label: 1 },
    { context, question, choices, label: 3 },
    { context, question, choices, label: -1 },
  ]);
  const missing = await file("cosmos_missing.jsonl", jsonl({ ...COSMOS, answer3: 7 }));
  await assert.rejects(
    convert("cosmosqa-jsonl", missing, join(dir, "cm.arrow")),
    /cosmos_missing\.jsonl: line 1, field answer3: 7 is not string$/,
  );
});

Deno.test("searchqa-json: SearchQA results, Quasar-T contexts, plain paragraphs", async () => {
  const input = await file(
    "openqa.jsonl",
    jsonl(
      {
        question: "This capital of Kelia hosts a fair",
        answer: "Belford",
        search_results: [
          { snippet: "Belford is the capital of Kelia.", title: "t", url: "u" },
          { snippet: null, title: "no snippet" },
        ],
      },
      {
        uid: "s3q1",
        question: "who founded Veltech ?",
        answers: ["Ashen Morard"],
        contexts: [[0.9, "Veltech was founded by Ashen Morard ."], [0.1, "   "]],
      },
      { question: ["where", "is", "Kelford", "?"], answers: ["Kelia"], paragraphs: ["a", "b"] },
      { question: "q", answers: "x", snippets: [{ text: "x y" }, "z"] },
      { question: "q", answers: [], paragraphs: ["p"] },
      { question: "q", answers: [""], paragraphs: ["p"] },
      { question: "q", search_results: [{ snippet: "p" }] },
      { question: "q", answers: ["a"], search_results: [{ snippet: 3 }] },
      { question: "q", answers: ["a"] },
      { question: "q", answers: ["a"], paragraphs: [null, ""] },
      { question: "q", answers: ["a"], paragraphs: "p" },
    ),
  );
  const out = join(dir, "openqa.arrow");
  await assert.rejects(
    convert("searchqa-json", input, out),
    /openqa\.jsonl: line 6, field answers\[0\]: empty answer$/,
  );
  const r = await convert("searchqa-json", input, out, { skipBad: true });
  assert.deepEqual(r, {
    rows: 6,
    skipped: {
      "answer empty": 1,
      "paragraph wrong type": 1,
      "paragraphs missing": 1,
      "paragraphs empty": 1,
      "paragraphs wrong type": 1,
    },
  });
  assert.deepEqual(await rows(out, "span-qa"), [
    {
      question: "This capital of Kelia hosts a fair",
      paragraphs: ["Belford is the capital of Kelia."],
      answers: ["Belford"],
    },
    {
      question: "who founded Veltech ?",
      paragraphs: ["Veltech was founded by Ashen Morard ."],
      answers: ["Ashen Morard"],
    },
    { question: "where is Kelford ?", paragraphs: ["a", "b"], answers: ["Kelia"] },
    { question: "q", paragraphs: ["x y", "z"], answers: ["x"] },
    // No answers (empty or absent): unlabelled data for predict, stored as answers [].
    { question: "q", paragraphs: ["p"], answers: [] },
    { question: "q", paragraphs: ["p"], answers: [] },
  ]);
  const bad = await file("openqa_bad.jsonl", jsonl({ question: "q", answer: "a", snippets: [1] }));
  await assert.rejects(
    convert("searchqa-json", bad, join(dir, "bad.arrow")),
    /openqa_bad\.jsonl: line 1, field snippets\[0\]: 1 is not a string/,
  );
});

Deno.test("schemas: value checks of the four task schemas", () => {
  const reason = (s: SchemaName, row: Record<string, unknown>) => PROBLEM[s](row)?.reason ?? null;
  const et = { text: "Kelford is big", start: 0, end: 7, labels: ["city"] };
  assert.equal(reason("entity-typing", et), null);
  assert.equal(reason("entity-typing", { ...et, end: 14 }), null);
  assert.equal(reason("entity-typing", { ...et, start: -1 }), "start out of range");
  assert.equal(reason("entity-typing", { ...et, start: 14, end: 15 }), "start out of range");
  assert.equal(reason("entity-typing", { ...et, start: 3, end: 3 }), "end out of range");
  assert.equal(reason("entity-typing", { ...et, end: 15 }), "end out of range");
  assert.equal(reason("entity-typing", { ...et, text: "" }), "text empty");
  assert.equal(reason("entity-typing", { ...et, labels: [] }), null); // no gold: for predict
  assert.equal(reason("entity-typing", { ...et, labels: ["city", ""] }), "label empty");
  assert.equal(reason("entity-typing", { ...et, labels: ["city", "city"] }), "label repeated");
  assert.equal(reason("entity-typing", { ...et, labels: "city" }), "labels wrong type");
  // Offsets count code points, as Python does: "😀" is one character, two UTF-16 units.
  assert.equal(reason("entity-typing", { ...et, text: "😀 Kelford", start: 2, end: 9 }), null);
  assert.equal(
    reason("entity-typing", { ...et, text: "😀 Kelford", start: 2, end: 10 }),
    "end out of range",
  );

  const rel = { token: ["a", "b", "c"], subj_start: 0, subj_end: 0, obj_start: 2, obj_end: 2 };
  assert.equal(reason("relation", { ...rel, relation: "no_relation" }), null);
  assert.equal(reason("relation", { ...rel, relation: "" }), null); // no gold: for predict
  assert.equal(reason("relation", { ...rel, obj_end: 3, relation: "x" }), "obj_end out of range");
  assert.equal(reason("relation", { ...rel, token: [], relation: "x" }), "token empty");
  assert.equal(reason("relation", rel), "relation missing");

  const mc = { context: "", question: "q ?", choices: ["a", "b"], label: 1 };
  assert.equal(reason("multiple-choice", mc), null);
  assert.equal(reason("multiple-choice", { ...mc, label: 2 }), "label out of range");
  assert.equal(reason("multiple-choice", { ...mc, label: -1 }), null); // no gold: for predict
  assert.equal(reason("multiple-choice", { ...mc, label: -2 }), "label out of range");
  assert.equal(reason("multiple-choice", { ...mc, choices: [] }), "fewer than 2 choices");
  assert.equal(
    reason("multiple-choice", { ...mc, choices: ["a"], label: 0 }),
    "fewer than 2 choices",
  );
  assert.equal(reason("multiple-choice", { ...mc, choices: ["a", " "] }), "choice empty");
  assert.equal(reason("multiple-choice", { ...mc, question: "" }), "question empty");
  assert.equal(reason("multiple-choice", { ...mc, label: 0.5 }), "label wrong type");

  const qa = { question: "q ?", paragraphs: ["p"], answers: ["a"] };
  assert.equal(reason("span-qa", qa), null);
  assert.equal(reason("span-qa", { ...qa, paragraphs: [] }), "paragraphs empty");
  assert.equal(reason("span-qa", { ...qa, answers: [] }), null); // no gold: for predict
  assert.equal(reason("span-qa", { ...qa, answers: ["a", ""] }), "answer empty");
  assert.equal(reason("span-qa", { ...qa, question: " " }), "question empty");
  assert.equal(PROBLEM["span-qa"]({ ...qa, answers: ["a", ""] })?.field, "answers[1]");
});

const SCHEMA = {
  entity_typing: "entity-typing",
  relation: "relation",
  multiple_choice: "multiple-choice",
  span_qa: "span-qa",
} as const;

Deno.test("data/tasks: the schemas, the documented sizes and label sets", async () => {
  for (const [task, schema] of Object.entries(SCHEMA)) {
    const texts = new Set<string>();
    for (const split of ["train", "dev"] as const) {
      const path = join(TASKS, `${task}_${split}.arrow`);
      const got = await rows(path, schema);
      assert.equal(got.length, SIZES[task as keyof typeof SIZES][split], `${task} ${split}`);
      assert.equal(await countRows(path), got.length);
      for (const r of got) {
        const key = JSON.stringify(r);
        assert.ok(split === "train" || !texts.has(key), `dev row in train: ${key}`);
        texts.add(key);
        if (task === "entity_typing") {
          for (const l of r.labels as string[]) assert.ok(ENTITY_LABELS.includes(l), l);
        }
        if (task === "relation") assert.ok(RELATION_LABELS.includes(r.relation as string));
        if (task === "multiple_choice") assert.equal((r.choices as string[]).length, 4);
        if (task === "span_qa") {
          const ps = r.paragraphs as string[], a = (r.answers as string[])[0];
          assert.equal(ps.length, 3);
          assert.ok(ps.some((p) => p.includes(a)), `${a} in no paragraph`);
        }
      }
    }
  }
});

Deno.test("data/tasks: regenerating gives the same bytes", async () => {
  const out = join(dir, "tasks");
  await writeTasks(out);
  const names = [...Deno.readDirSync(TASKS)].map((e) => e.name).filter((n) => n.endsWith(".arrow"));
  assert.equal(names.length, 8);
  for (const name of names) {
    assert.deepEqual(
      await Deno.readFile(join(out, name)),
      await Deno.readFile(join(TASKS, name)),
      name,
    );
  }
});

Deno.test("kadapter data convert --format cosmosqa-jsonl as a subprocess", async () => {
  const input = await file("cli.jsonl", jsonl(COSMOS, { ...COSMOS, label: "9" }));
  const out = join(dir, "cli.arrow");
  const run = (...extra: string[]) =>
    kadapter(
      "data",
      "convert",
      "--format",
      "cosmosqa-jsonl",
      "--input",
      input,
      "--out",
      out,
      ...extra,
    );
  const failed = await run();
  assert.equal(failed.code, 1);
  assert.match(failed.err, /cli\.jsonl: line 2, field label: 9 is outside \[0, 3\]/);
  const ok = await run("--skip-bad");
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /wrote 1 rows \(multiple-choice schema\)/);
  assert.match(ok.out, /skipped 1: label out of range/);
});

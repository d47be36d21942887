// The HTML run report and the demo's tables, from hand-made run folders.
import assert from "node:assert/strict";
import { join } from "node:path";
import { demoTables, pct, textTable } from "../src/demo/results.ts";
import { esc, page, table } from "../src/report/html.ts";
import { runSection, writeRunReport } from "../src/report/run_page.ts";

const line = (r: Record<string, unknown>) => JSON.stringify(r) + "\n";

async function fakeRun(dir: string, evalMetrics: Record<string, number>[]) {
  await Deno.mkdir(join(dir, "adapter"), { recursive: true });
  await Deno.mkdir(join(dir, "checkpoint"));
  const records = [
    { event: "start", step: 0, total: 4, config: { lr: 0.001, train: "a<b>.arrow" } },
    ...[1, 2, 3, 4].map((step) => ({ event: "train", step, loss: 2 / step, lr: 0.001 })),
    ...evalMetrics.map((m, i) => ({ event: "eval", step: 2 * (i + 1), ...m })),
    { event: "done", step: 4, best: { metric: "micro_f1", value: 0.75, step: 4 } },
  ];
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), records.map(line).join(""));
}

Deno.test("html helpers escape text and lay out tables", () => {
  assert.equal(esc(`<a href="x">&</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
  const t = table(["model", "F1"], [["<b>", 0.5], ["plain", null]], "cap");
  assert.match(t, /<caption>cap<\/caption>/);
  assert.match(t, /<td>&lt;b&gt;<\/td><td class="num">0.5000<\/td>/);
  assert.match(t, /<td>–<\/td>/);
  const scores = table(["model", "F1"], [["RoBERTa", "50.00"]], undefined, true);
  assert.match(scores, /<th>model<\/th><th class="num">F1<\/th>/);
  assert.match(scores, /<td>RoBERTa<\/td><td class="num">50.00<\/td>/);
  const html = page("a & b", "<p>x</p>");
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>a &amp; b<\/title>/);
  assert.doesNotMatch(html, /<script|<link/);
});

Deno.test("a run's section: progress, last and best dev metrics, curves, links", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_report_" });
  try {
    await fakeRun(join(dir, "fac"), [{ micro_f1: 0.5 }, { micro_f1: 0.7 }]);
    const html = runSection(join(dir, "fac"), "train <fac>", dir);
    assert.match(html, /<h2>train &lt;fac&gt;<\/h2>/);
    assert.match(html, /4 of 4/);
    assert.doesNotMatch(html, /not finished/);
    assert.match(html, /2.0000 at step 1 → 0.5000 at step 4/);
    assert.match(html, /dev at step 4<\/td><td>micro_f1 0.7000/);
    assert.match(html, /micro_f1 0.7500 at step 4/);
    assert.match(html, /href="fac\/adapter">adapter/);
    assert.match(html, /href="fac\/checkpoint">checkpoint/);
    assert.doesNotMatch(html, /href="fac\/model"/);
    assert.match(html, /<svg[^>]*>[\s\S]*<\/svg>/);
    assert.match(html, /a&lt;b&gt;.arrow/);

    const path = await writeRunReport(join(dir, "fac"), "fac run");
    assert.equal(path, join(dir, "fac", "report.html"));
    const page = await Deno.readTextFile(path);
    assert.match(page, /<h1>fac run<\/h1>/);
    assert.match(page, /href="adapter"/);

    const missing = runSection(join(dir, "nothing"), "none", dir);
    assert.match(missing, /no metrics.jsonl/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo tables read the run folders; missing runs show as not measured", async () => {
  const out = await Deno.makeTempDir({ prefix: "kadapter_tables_" });
  try {
    await fakeRun(join(out, "fac"), [{ micro_f1: 0.8125, macro_f1: 0.5 }]);
    await fakeRun(join(out, "relation", "FL"), [{ precision: 0.5, recall: 0.25, f1: 1 / 3 }]);
    const tables = demoTables({ out, seed: 1, quick: true, pretrain: false });
    assert.deepEqual(tables.map((t) => t.title.split(" ")[0]), [
      "Knowledge",
      "Entity",
      "Relation",
      "LAMA",
    ]);
    assert.deepEqual(tables[0].rows[0], ["fac: relation classification", 0.8125, 0.5, null]);
    assert.deepEqual(tables[2].rows[3], ["K-Adapter (F+L)", 0.5, 0.25, 1 / 3]);
    assert.deepEqual(tables[2].rows[0], ["RoBERTa", null, null, null]);
    assert.equal(pct(1 / 3), "33.33");
    assert.equal(pct(null), "–");
    assert.equal(
      textTable(tables[2]),
      [
        "Relation classification (bundled TACRED-style sample, dev)",
        "model                P      R     F1",
        "RoBERTa              –      –      –",
        "K-Adapter (F)        –      –      –",
        "K-Adapter (L)        –      –      –",
        "K-Adapter (F+L)  50.00  25.00  33.33",
      ].join("\n"),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

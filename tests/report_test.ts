// The HTML run report and the demo's report and tables, from hand-made run folders: no empty
// header rows, settings under their flag names (only those that decided the run), one axis per
// unit, "no dev set given" for runs without one, version/device/elapsed time from the log when
// it has them, scores in percent everywhere, and the chart comparing adapter combinations.
import assert from "node:assert/strict";
import { join } from "node:path";
import { comboChart, writeDemoReport } from "../src/demo/report.ts";
import { COMBOS, demoStages } from "../src/demo/plan.ts";
import { demoTables, pct, textTable } from "../src/demo/results.ts";
import { esc, keyValues, page, table } from "../src/report/html.ts";
import { elapsedSeconds, settingsPairs } from "../src/report/run_info.ts";
import { runSection, writeRunReport } from "../src/report/run_page.ts";

type Rec = Record<string, unknown>;
const line = (r: Rec) => JSON.stringify(r) + "\n";

async function fakeRun(
  dir: string,
  evalMetrics: Record<string, number>[],
  config: Rec = { lr: 0.001, train: "a<b>.arrow" },
  extra: { start?: Rec; best?: string } = {},
) {
  await Deno.mkdir(join(dir, "adapter"), { recursive: true });
  await Deno.mkdir(join(dir, "checkpoint"));
  const best = extra.best ?? "micro_f1";
  const records = [
    { event: "start", step: 0, total: 4, config, ...extra.start },
    ...[1, 2, 3, 4].map((step) => ({ event: "train", step, loss: 2 / step, lr: 0.001 })),
    ...evalMetrics.map((m, i) => ({ event: "eval", step: 2 * (i + 1), ...m })),
    {
      event: "done",
      step: 4,
      best: evalMetrics.length ? { metric: best, value: 0.75, step: 4 } : null,
    },
  ];
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), records.map(line).join(""));
}

/** The text of every header row of `html`'s tables. */
const headRows = (html: string) =>
  [...html.matchAll(/<thead>(.*?)<\/thead>/g)].map((m) => m[1].replace(/<[^>]*>/g, "").trim());

/** The key/value pairs of `html`'s definition lists. */
const pairs = (html: string) =>
  new Map([...html.matchAll(/<dt>(.*?)<\/dt><dd>(.*?)<\/dd>/g)].map((m) => [m[1], m[2]]));

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
  // A head with no text is left out: no empty grey header row.
  const bare = table(["", ""], [["k", "v"]]);
  assert.doesNotMatch(bare, /<thead>/);
  assert.match(bare, /<tbody><tr><td>k<\/td><td>v<\/td><\/tr><\/tbody>/);
  const kv = keyValues([["a<", "b&"], ["long", "x".repeat(40)]], true);
  assert.match(kv, /^<dl class="kv cols"><div><dt>a&lt;<\/dt><dd>b&amp;<\/dd><\/div>/);
  assert.match(kv, /<div class="wide"><dt>long<\/dt>/);
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
    // Scores in percent, as the demo's tables print them.
    assert.match(html, /<dt>dev at step 4<\/dt><dd>micro_f1\u00a070.00%/);
    assert.match(html, /micro_f1 75.00% at step 4/);
    assert.deepEqual(headRows(html).filter((t) => !t), [], "no empty header row");
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

Deno.test("settings: flag names, only what decided the run, total steps", () => {
  const config = {
    task: "relation",
    settings: { maxNegatives: 0, figer: false },
    model: "/m",
    adapters: ["fac", "lin"],
    adapterDirs: ["/a/fac", "/a/lin"],
    freezeEncoder: false,
    trainAdapters: true,
    batch: 16,
    epochs: 5,
    steps: 30,
    weightDecay: 0.01,
    maxGradNorm: 1,
    maxLength: 64,
    headDropout: 0.1,
    limit: null,
  };
  const got = new Map(settingsPairs(config, 30));
  assert.equal(got.get("--steps"), "30");
  assert.ok(!got.has("--epochs"), "epochs did not decide the run");
  assert.equal(got.get("--weight-decay"), "0.01");
  assert.equal(got.get("--max-grad-norm"), "1");
  assert.equal(got.get("--max-length"), "64");
  assert.equal(got.get("--dropout"), "0.1");
  assert.equal(got.get("--max-negatives"), "0");
  assert.equal(got.get("--adapters"), "fac=/a/fac,lin=/a/lin");
  assert.equal(got.get("--train-adapters"), "yes");
  assert.equal(got.get("task"), "relation");
  assert.equal(got.get("total steps"), "30");
  for (const k of got.keys()) assert.match(k, /^(--[a-z][a-z0-9-]*|task|labels|total steps)$/, k);
  for (const gone of ["--freeze-encoder", "--figer", "--limit", "--adapter-dirs"]) {
    assert.ok(!got.has(gone), gone);
  }
  // Epochs decided: --epochs shown, --steps (unset) not; the total from the log.
  const byEpochs = new Map(settingsPairs({ epochs: 5, steps: null, adapters: [] }, 1234));
  assert.equal(byEpochs.get("--epochs"), "5");
  assert.ok(!byEpochs.has("--steps"));
  assert.equal(byEpochs.get("--adapters"), "none");
  assert.equal(byEpochs.get("total steps"), "1234");
  // train fac|lin: the adapter's shape under its flags, one --dropout for adapter and head, and
  // the warmup the schedule used.
  const infusion = new Map(settingsPairs({
    warmup: 500,
    warmupSteps: 1,
    adapter: { adapterHidden: 64, heads: 4, mask: "padding", combine: "sum", dropout: 0.1 },
    headDropout: 0.1,
  }));
  assert.deepEqual([...infusion], [
    ["--warmup", "500 (1 used)"],
    ["--adapter-size", "64"],
    ["--adapter-heads", "4"],
    ["--adapter-mask", "padding"],
    ["--combine", "sum"],
    ["--dropout", "0.1"],
  ]);
});

Deno.test("run page: flag names, no stale epochs, no empty header, no dev set, units", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_report_" });
  try {
    const config = { dev: null, epochs: 5, steps: 4, weightDecay: 0, lr: 0.001 };
    await fakeRun(join(dir, "mlm"), [], config);
    const html = runSection(join(dir, "mlm"), "probe", dir, 1);
    assert.match(html, /<dt>--weight-decay<\/dt><dd>0<\/dd>/);
    assert.match(html, /<dt>--steps<\/dt><dd>4<\/dd>/);
    assert.match(html, /<dt>total steps<\/dt><dd>4<\/dd>/);
    assert.doesNotMatch(html, /weightDecay|--epochs|<dt>epochs/);
    assert.doesNotMatch(html, /<thead>/);
    // Done without a dev set: said so, in the summary and the chart, not "not evaluated yet".
    assert.match(html, /<dd>no dev set given/);
    assert.match(html, />no dev set given<\/text>/);
    assert.doesNotMatch(html, /no evaluations yet/);
    // A logged run never evaluated (dev given): not "yet" once done.
    await fakeRun(join(dir, "fac"), [], { dev: "dev.arrow" });
    assert.match(runSection(join(dir, "fac"), "fac", dir), />not evaluated<\/text>/);

    // Perplexity, losses and scores on axes of their own; scores in percent, the rest plain.
    const mlm = { mlm_loss: 0.5, mlm_accuracy: 0.8125, perplexity: Math.exp(0.5) };
    await fakeRun(join(dir, "pre"), [mlm], { dev: "d" }, { best: "mlm_loss" });
    const pre = runSection(join(dir, "pre"), "pretrain", dir);
    const wide = pre.match(/<div class="chart wide-only">([\s\S]*?)<\/div>/)![1];
    assert.equal(wide.match(/<rect class="plot-area"/g)!.length, 4);
    for (const t of ["dev metric (%)", "dev loss", "perplexity"]) {
      assert.ok(wide.includes(`>${t}</text>`));
    }
    const legend = (cls: string) =>
      wide.match(new RegExp(`<g class="legend ${cls}">(.*?)</g>\n`))![1];
    assert.doesNotMatch(legend("metric-legend"), /perplexity|mlm_loss/);
    assert.match(legend("perplexity-legend"), />perplexity</);
    assert.match(legend("dev-loss-legend"), />mlm_loss</);
    assert.match(pre, /mlm_accuracy\u00a081.25%/);
    assert.match(pre, /mlm_loss\u00a00.5000/);
    assert.match(pre, /perplexity\u00a01.6487/);
    assert.match(pre, /<dt>best<\/dt><dd>mlm_loss 0.7500 at step 4/);
    // A narrow-screen variant, one panel a row.
    assert.match(pre, /<div class="chart narrow-only"><svg [^>]*width="500"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run page: version, device and elapsed time from the log; absent without", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_report_" });
  try {
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
    const records: Rec[] = [
      { time: t(0), event: "start", step: 0, total: 4, version: "0.1.0", device: "llvmpipe" },
      { time: t(10), event: "train", step: 1, loss: 1 },
      { time: t(20), event: "train", step: 2, loss: 1 },
      { time: t(21), event: "interrupted", step: 2 },
      // An hour's pause, then resumed on another device: 21 s + 9 s of work.
      { time: t(3621), event: "resume", step: 2, total: 4, version: "0.1.1", device: "H200" },
      { time: t(3625), event: "train", step: 3, loss: 1 },
      { time: t(3630), event: "done", step: 4, best: null },
    ];
    assert.equal(elapsedSeconds(records), 30);
    await Deno.mkdir(join(dir, "a"));
    await Deno.writeTextFile(join(dir, "a", "metrics.jsonl"), records.map(line).join(""));
    const got = pairs(runSection(join(dir, "a"), "a", dir));
    assert.equal(got.get("kadapter"), "0.1.0, then 0.1.1");
    assert.equal(got.get("device"), "llvmpipe, then H200");
    assert.equal(got.get("time"), "30.0 s (computing, over 2 sessions)");

    // An older log: no version or device recorded, no time fields; nothing shown, no crash.
    const old = records.map(({ time: _, version: _v, device: _d, ...r }) => r);
    await Deno.mkdir(join(dir, "b"));
    await Deno.writeTextFile(join(dir, "b", "metrics.jsonl"), old.map(line).join(""));
    const none = pairs(runSection(join(dir, "b"), "b", dir));
    for (const k of ["kadapter", "device", "time"]) assert.ok(!none.has(k), k);
    assert.equal(elapsedSeconds(old), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo report: scores in percent, no empty header, combinations compared", async () => {
  const out = await Deno.makeTempDir({ prefix: "kadapter_demo_report_" });
  try {
    const o = { out, seed: 1, quick: true, pretrain: false };
    await fakeRun(join(out, "fac"), [{ micro_f1: 0.8125, macro_f1: 0.5 }]);
    for (const [i, c] of COMBOS.entries()) {
      await fakeRun(join(out, "relation", c.dir), [{
        precision: 0.5,
        recall: 0.25,
        f1: 0.1 * (i + 1),
      }]);
    }
    const tables = demoTables(o);
    const path = await writeDemoReport(o, {
      device: "llvmpipe",
      version: "0.1.0",
      seconds: 200,
      stages: demoStages(o),
      records: new Map(),
      tables,
    });
    const html = await Deno.readTextFile(path);
    assert.deepEqual(headRows(html).filter((t) => !t), [], "no empty header row");
    // No stage ran in this call (no records): the time says so.
    assert.match(
      pairs(html).get("time")!,
      /^3 min 20 s \(this run; every stage was done by an earlier run\)$/,
    );
    // One convention: percent with two decimals, in the tables and the stages alike.
    assert.match(html, /<td class="num">81.25<\/td>/);
    assert.match(html, /micro_f1\u00a081.25%/);
    assert.doesNotMatch(html, /0\.8125/);
    assert.match(html, /Scores in percent/);
    // The chart: a bar per measured combination, the missing table's bars as not measured.
    const chart = html.match(/<svg class="bars"[\s\S]*?<\/svg>/)![0];
    assert.equal(chart.match(/<g class="bar" /g)!.length, 4, "relation's four combinations");
    assert.match(chart, /data-label="K-Adapter \(F\+L\): 40.00"/);
    assert.match(chart, />relation classification \(F1\)</);
    assert.match(chart, />entity typing \(Mi-F1\)</);
    for (const c of COMBOS) assert.ok(chart.includes(`>${esc(c.name)}</text>`), c.name);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);
    // No combinations, no chart.
    assert.equal(comboChart(tables.filter((t) => t.main === undefined)), "");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

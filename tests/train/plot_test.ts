// Training curves SVG: read back through regexes - one loss point per distinct finite step
// (the last record wins after a resume), one labelled series and legend entry per dev metric,
// points inside the plot area in step order with higher values drawn higher, nice tick labels,
// valid output for empty or degenerate logs, escaped text, and the file written by writeCurves.
import assert from "node:assert/strict";
import { join } from "node:path";
import { curvesSvg, writeCurves } from "../../src/train/plot.ts";

type Rec = Record<string, unknown>;

const train = (step: number, loss: number): Rec => ({ event: "train", step, loss, lr: 1e-5 });
const evalAt = (step: number, m: Record<string, number>): Rec => ({ event: "eval", step, ...m });

/** The (x, y) points of the polyline in the series group of class `cls` (and `label`). */
function series(svg: string, cls: string, label?: string): [number, number][] {
  const groups = [...svg.matchAll(/<g class="series ([^"]+)" data-label="([^"]*)">(.*?)<\/g>/g)]
    .filter((m) => m[1] === cls && (label === undefined || m[2] === label));
  assert.equal(groups.length, 1, `one ${cls} ${label ?? ""} series`);
  const pts = groups[0][3].match(/<polyline points="([^"]*)"/)![1];
  return pts.split(" ").map((p) => p.split(",").map(Number) as [number, number]);
}

/** The plot rectangles, left panel first. */
function plotAreas(svg: string) {
  return [
    ...svg.matchAll(
      /<rect class="plot-area" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g,
    ),
  ]
    .map((m) => m.slice(1).map(Number)).map(([x, y, w, h]) => ({ x, y, w, h }));
}

function assertInside(pts: [number, number][], a: { x: number; y: number; w: number; h: number }) {
  for (const [x, y] of pts) {
    assert.ok(x >= a.x && x <= a.x + a.w && y >= a.y && y <= a.y + a.h, `${x},${y} outside`);
  }
}

function assertWellFormed(svg: string) {
  assert.match(
    svg,
    /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+" viewBox="0 0 \d+ \d+"/,
  );
  assert.match(svg.trimEnd(), /<\/svg>$/);
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  // Every element opened is closed (self-closing ones aside).
  for (const tag of ["g", "text", "svg"]) {
    const open = svg.match(new RegExp(`<${tag}[ >]`, "g"))?.length ?? 0;
    const close = svg.match(new RegExp(`</${tag}>`, "g"))?.length ?? 0;
    assert.equal(open, close, `<${tag}> balanced`);
  }
}

Deno.test("plot: one loss point per distinct finite step, the last record after a resume", () => {
  const records: Rec[] = [{ event: "start", step: 0, total: 200 }];
  for (let s = 1; s <= 120; s++) records.push(train(s, 3 - s / 100));
  records.push({ event: "resume", step: 100 });
  for (let s = 101; s <= 200; s++) records.push(train(s, s === 110 ? 9 : 2 - s / 1000));
  records.push(train(150, NaN), train(151, Infinity), train(152, "x" as unknown as number));
  const svg = curvesSvg(records);
  assertWellFormed(svg);
  const raw = series(svg, "loss-raw");
  // 200 distinct steps; 150 and 151 were last logged non-finite, 152's last record has no loss.
  assert.equal(raw.length, 200 - 3);
  for (let i = 1; i < raw.length; i++) assert.ok(raw[i][0] > raw[i - 1][0], "ordered by step");
  const [area] = plotAreas(svg);
  assertInside(raw, area);
  // Step 110 was relogged with loss 9 (the maximum): it is the topmost point.
  const top = raw.reduce((a, b) => (b[1] < a[1] ? b : a));
  assert.equal(raw.indexOf(top), 109);
  assert.equal(top[1], Math.min(...raw.map((p) => p[1])));
  // Step 1 (loss 2.99) is drawn above step 200 (loss 1.8).
  assert.ok(raw[0][1] < raw.at(-1)![1]);
  const smooth = series(svg, "loss-smooth");
  assert.equal(smooth.length, raw.length);
  assertInside(smooth, area);
  assert.match(svg, /moving average \(5 points\)/);
});

Deno.test("plot: each eval metric gets a labelled series, markers and a legend entry", () => {
  const records: Rec[] = [train(1, 2), train(2, 1.5), train(3, 1)];
  records.push(evalAt(10, { micro_f1: 0.2, macro_f1: 0.1 }));
  records.push(evalAt(20, { micro_f1: 0.5, macro_f1: 0.3, uas: 0.7 }));
  records.push({ event: "best", step: 20, micro_f1: 0.5 });
  records.push(evalAt(20, { micro_f1: 0.6, macro_f1: 0.3, uas: 0.7 })); // relogged after resume
  records.push(evalAt(30, { micro_f1: 0.4, macro_f1: NaN }));
  const svg = curvesSvg(records);
  assertWellFormed(svg);
  const [, area] = plotAreas(svg);
  const micro = series(svg, "metric", "micro_f1");
  const macro = series(svg, "metric", "macro_f1");
  const uas = series(svg, "metric", "uas");
  assert.deepEqual([micro.length, macro.length, uas.length], [3, 2, 1]);
  for (const s of [micro, macro, uas]) assertInside(s, area);
  assert.ok(micro[0][0] < micro[1][0] && micro[1][0] < micro[2][0], "ordered by step");
  // Micro F1 0.2, 0.6 (the relogged value, not 0.5), 0.4; at step 20 uas 0.7 > 0.6 > macro 0.3.
  assert.ok(micro[1][1] < micro[2][1] && micro[2][1] < micro[0][1]);
  assert.ok(uas[0][1] < micro[1][1] && micro[1][1] < macro[1][1]);
  assert.equal(uas[0][0], micro[1][0], "same step, same x");
  const groups = svg.match(/<g class="series metric"[^>]*>.*?<\/g>/g)!;
  assert.equal(groups.length, 3);
  assert.equal(groups[0].match(/<circle /g)!.length, 3, "a marker per evaluation");
  const legend = svg.match(/<g class="legend metric-legend">(.*?)<\/g>\n/)![1];
  for (const m of ["micro_f1", "macro_f1", "uas"]) assert.match(legend, new RegExp(`>${m}</text>`));
  assert.doesNotMatch(svg, /no evaluations yet/);
  // Too few loss points for a smoothing window (2% of 3 rounds to 1): no smoothed line.
  assert.doesNotMatch(svg, /loss-smooth/);
  for (const t of ["step", "training loss", "dev metric (%)", "dev metrics", "training curves"]) {
    assert.ok(svg.includes(`>${t}</text>`), t);
  }
});

Deno.test("plot: scores (in percent), dev losses and perplexity each get an axis of their own", () => {
  const records: Rec[] = [train(1, 3), train(2, 2)];
  records.push(evalAt(1, { mlm_loss: 2, mlm_accuracy: 0.4, perplexity: Math.exp(2) }));
  records.push(evalAt(2, { mlm_loss: 1, mlm_accuracy: 0.6, perplexity: Math.exp(1) }));
  const svg = curvesSvg(records);
  assertWellFormed(svg);
  const areas = plotAreas(svg);
  assert.equal(areas.length, 4, "training loss, dev scores, dev loss, dev perplexity");
  assertInside(series(svg, "metric", "mlm_accuracy"), areas[1]);
  assertInside(series(svg, "metric", "mlm_loss"), areas[2]);
  assertInside(series(svg, "metric", "perplexity"), areas[3]);
  for (const t of ["dev metric (%)", "dev loss", "perplexity", "dev perplexity"]) {
    assert.ok(svg.includes(`>${t}</text>`), t);
  }
  // Each legend names only its panel's metrics.
  const legend = (cls: string) => svg.match(new RegExp(`<g class="legend ${cls}">(.*?)</g>\n`))![1];
  assert.match(legend("metric-legend"), />mlm_accuracy</);
  assert.doesNotMatch(legend("metric-legend"), /perplexity|mlm_loss/);
  assert.match(legend("perplexity-legend"), />perplexity</);
  // The score axis is in percent: ticks cover 40..60.
  const yticks = [...svg.matchAll(/<text class="ytick" x="([\d.]+)"[^>]*>([^<]*)<\/text>/g)]
    .filter((m) => Number(m[1]) > areas[1].x - 10 && Number(m[1]) < areas[1].x + 1)
    .map((m) => Number(m[2]));
  assert.ok(Math.min(...yticks) <= 40 && Math.max(...yticks) >= 60, yticks.join(" "));
  // Only scores: the two panels as before.
  assert.equal(plotAreas(curvesSvg([train(1, 1), evalAt(1, { f1: 0.5 })])).length, 2);
  // Only a dev loss: no empty score panel.
  const lossOnly = curvesSvg([train(1, 1), evalAt(1, { mlm_loss: 0.5 })]);
  assert.equal(plotAreas(lossOnly).length, 2);
  assert.doesNotMatch(lossOnly, /no evaluations yet/);
});

Deno.test("plot: a run without a dev set says so; a finished run never evaluated too", () => {
  const start = (dev: string | null): Rec => ({ event: "start", step: 0, config: { dev } });
  const done: Rec = { event: "done", step: 2, best: null };
  assert.match(curvesSvg([start(null), train(1, 1), done]), />no dev set given</);
  assert.match(curvesSvg([start(null), train(1, 1)]), />no dev set given</);
  assert.match(curvesSvg([start("d.arrow"), train(1, 1), done]), />not evaluated</);
  assert.match(curvesSvg([start("d.arrow"), train(1, 1)]), />no evaluations yet</);
});

Deno.test("plot: ticks are nice round numbers covering the data", () => {
  const records: Rec[] = [];
  for (let s = 0; s <= 30; s++) records.push(train(s, 0.1 + 0.2 * (s / 30)));
  const svg = curvesSvg(records);
  const ticks = (cls: string) =>
    [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, "g"))].map((m) => m[1]);
  const ys = ticks("ytick");
  assert.ok(ys.length >= 3 && ys.length <= 8, `${ys.length} y ticks`);
  for (const ts of [ys, ticks("xtick")]) {
    for (const t of ts) assert.match(t, /^-?\d+(\.\d+)?$/, `compact label ${t}`);
    // Evenly spaced by 1, 2 or 5 x 10^k.
    const step = Number(ts[1]) - Number(ts[0]);
    const mant = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
    assert.ok([1, 2, 5].some((d) => Math.abs(mant - d) < 1e-6), `tick step ${step}`);
    ts.forEach((t, i) => assert.ok(Math.abs(Number(t) - Number(ts[0]) - i * step) < 1e-9, t));
  }
  assert.ok(Number(ys[0]) <= 0.1 && Number(ys.at(-1)) >= 0.3, ys.join(" "));
  assert.deepEqual(ticks("xtick"), ["0", "10", "20", "30"]);
});

Deno.test("plot: empty, single-point, constant and non-finite logs still give valid SVG", () => {
  const cases: Rec[][] = [
    [],
    [{ event: "start", step: 0 }],
    [train(5, 1)],
    [train(1, 2), train(2, 2), train(3, 2)],
    [train(1, NaN), train(2, Infinity)],
    [evalAt(4, { f1: 0.5 })],
    [train(1, 1), evalAt(1, { f1: 0 }), evalAt(2, { f1: 0 })],
  ];
  for (const records of cases) {
    const svg = curvesSvg(records);
    assertWellFormed(svg);
    assert.equal(curvesSvg(records), svg, "deterministic");
    const areas = plotAreas(svg);
    assert.equal(areas.length, 2);
    for (const cls of ["loss-raw", "metric"]) {
      for (
        const m of svg.matchAll(
          new RegExp(`class="series ${cls}"[^>]*><polyline points="([^"]*)"`, "g"),
        )
      ) {
        const pts = m[1].split(" ").map((p) => p.split(",").map(Number) as [number, number]);
        assertInside(pts, cls === "metric" ? areas[1] : areas[0]);
      }
    }
  }
  const empty = curvesSvg([]);
  assert.match(empty, />no evaluations yet</);
  assert.match(empty, />no training steps yet</);
  assert.match(curvesSvg([train(1, 1)]), />no evaluations yet</);
  assert.doesNotMatch(curvesSvg([evalAt(1, { f1: 1 })]), /no evaluations yet/);
});

Deno.test("plot: title and metric names are XML-escaped", () => {
  const svg = curvesSvg([train(1, 1), evalAt(1, { 'a<b>&"c"': 0.5 })], {
    title: `run "x" <1> & co`,
  });
  assertWellFormed(svg);
  assert.match(svg, />run &quot;x&quot; &lt;1&gt; &amp; co<\/text>/);
  assert.match(svg, /data-label="a&lt;b&gt;&amp;&quot;c&quot;"/);
  assert.doesNotMatch(svg, /<1>|<b>|"c"/);
  // Only the five entities appear after an ampersand.
  assert.doesNotMatch(svg, /&(?!amp;|lt;|gt;|quot;)/);
});

Deno.test("plot: writeCurves writes the SVG of the log beside the run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const metrics = join(dir, "metrics.jsonl"), out = join(dir, "curves.svg");
    const records = [train(1, 2), train(2, 1), evalAt(2, { micro_f1: 0.3 })];
    await Deno.writeTextFile(metrics, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    await writeCurves(metrics, out, { title: "demo" });
    const svg = await Deno.readTextFile(out);
    assert.equal(svg, curvesSvg(records, { title: "demo" }));
    assert.match(svg, />demo<\/text>/);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["curves.svg", "metrics.jsonl"], "no temporary file left");
    await assert.rejects(writeCurves(join(dir, "missing.jsonl"), out), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

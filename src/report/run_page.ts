// One training run as HTML, from its folder alone: version, device and time spent, the last dev
// evaluation and the best one (scores in percent), the loss/metric curves, the settings under
// their flag names, and links to its checkpoint and output folders. `--report` writes it as
// OUT/report.html; the demo's report puts one section per stage.
import { join, relative } from "node:path";
import { writeTextAtomic } from "../formats/atomic.ts";
import { readRunLog } from "../train/log.ts";
import { curvesSvg } from "../train/plot.ts";
import { esc, Html, keyValues, link, page } from "./html.ts";
import { metricValue, runFacts, settingsPairs } from "./run_info.ts";

/** The folders and files a run may leave, in the order they are linked. */
const OUTPUTS = [
  "report.html",
  "adapter",
  "model",
  "mlm",
  "best",
  "checkpoint",
  "metrics.jsonl",
  "curves.svg",
  "tensorboard",
  "results.json",
  "predictions.jsonl",
];

const f4 = (x: unknown) => (x as number).toFixed(4);
/** Kept on one line (a metric and its value). */
const nowrap = (s: string) => s.replace(/ /g, "\u00a0");
const present = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** Links to what `dir` holds, relative to the folder of the page (`from`). */
export function outputLinks(dir: string, from: string): Html {
  const links = OUTPUTS.filter((name) => present(join(dir, name)))
    .map((name) => link(relative(from, join(dir, name)) || ".", name).html);
  return new Html(links.length ? links.join(" · ") : "nothing written yet");
}

/**
 * The HTML of a run folder's section: `level` is the heading level, `from` the folder of the
 * page it goes in (for relative links), `intro` HTML placed under the heading.
 */
export function runSection(
  dir: string,
  title: string,
  from: string,
  level = 2,
  intro = "",
): string {
  const heading = `<h${level}>${esc(title)}</h${level}>${intro}`;
  const path = join(dir, "metrics.jsonl");
  if (!present(path)) return `${heading}<p class="note">no metrics.jsonl in ${esc(dir)}</p>`;
  const records = readRunLog(path);
  const start = records.findLast((r) => r.event === "start" || r.event === "resume");
  const evals = records.filter((r) => r.event === "eval");
  const train = records.filter((r) => r.event === "train" && typeof r.loss === "number");
  const done = records.findLast((r) => r.event === "done");
  const lastEval = evals.at(-1);
  const rows: [string, string | Html][] = [
    ...runFacts(records),
    ["folder", outputLinks(dir, from)],
    [
      "steps",
      `${train.at(-1)?.step ?? 0} of ${start?.total ?? "?"}${done ? "" : " (not finished)"}`,
    ],
  ];
  if (train.length) {
    rows.push([
      "training loss",
      `${f4(train[0].loss)} at step ${train[0].step} → ` +
      `${f4(train.at(-1)!.loss)} at step ${train.at(-1)!.step}`,
    ]);
  }
  const settings = start?.config as Record<string, unknown> | undefined;
  if (lastEval) {
    const metrics = Object.entries(lastEval).filter(([k, v]) =>
      typeof v === "number" && k !== "step"
    ).map(([k, v]) => nowrap(`${k} ${metricValue(k, v as number)}`));
    rows.push([`dev at step ${lastEval.step}`, metrics.join(", ")]);
  } else if (settings && "dev" in settings && settings.dev == null) {
    rows.push(["dev", "no dev set given (not evaluated)"]);
  } else rows.push(["dev", done ? "not evaluated" : "no evaluations yet"]);
  const best = done?.best as { metric: string; value: number; step: number } | undefined;
  if (best) {
    rows.push([
      "best",
      `${best.metric} ${metricValue(best.metric, best.value)} at step ${best.step}`,
    ]);
  }
  return [
    heading,
    keyValues(rows),
    // Two panels a row on wide screens; stacked, one a row, on narrow ones (CSS picks).
    `<div class="chart wide-only">${curvesSvg(records, { title })}</div>`,
    `<div class="chart narrow-only">${curvesSvg(records, { title: "", columns: 1 })}</div>`,
    settings
      ? `<details${level === 1 ? " open" : ""}><summary>settings (as flags)</summary>${
        keyValues(settingsPairs(settings, start?.total), true)
      }</details>`
      : "",
  ].join("\n");
}

/** Writes `dir`/report.html: the run's section as a page of its own. */
export async function writeRunReport(dir: string, title: string): Promise<string> {
  const out = join(dir, "report.html");
  await writeTextAtomic(out, page(title, runSection(dir, title, dir, 1)));
  return out;
}

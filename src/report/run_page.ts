// One training run as HTML, from its folder alone: settings, the last dev evaluation and the
// best one, the loss/metric curves, and links to its checkpoint and output folders. `--report`
// writes it as OUT/report.html; the demo's report puts one section per stage.
import { join, relative } from "node:path";
import { writeTextAtomic } from "../formats/atomic.ts";
import { readJsonl } from "../train/log.ts";
import { curvesSvg } from "../train/plot.ts";
import { esc, Html, link, page, table } from "./html.ts";

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
  "results.json",
  "predictions.jsonl",
];

const f4 = (x: unknown) => (x as number).toFixed(4);
const present = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** The settings of a run's start record as table rows (nested values as JSON). */
function settingsRows(config: Record<string, unknown>): [string, string][] {
  return Object.entries(config).filter(([, v]) => v !== null && v !== undefined).map((
    [k, v],
  ) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
}

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
  const records = readJsonl(path);
  const start = records.findLast((r) => r.event === "start");
  const evals = records.filter((r) => r.event === "eval");
  const train = records.filter((r) => r.event === "train" && typeof r.loss === "number");
  const done = records.findLast((r) => r.event === "done");
  const lastEval = evals.at(-1);
  const rows: [string, string | Html][] = [
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
  if (lastEval) {
    const metrics = Object.entries(lastEval).filter(([k, v]) =>
      typeof v === "number" && k !== "step"
    ).map(([k, v]) => `${k} ${f4(v)}`);
    rows.push([`dev at step ${lastEval.step}`, metrics.join(", ")]);
  }
  const best = done?.best as { metric: string; value: number; step: number } | undefined;
  if (best) rows.push(["best", `${best.metric} ${f4(best.value)} at step ${best.step}`]);
  const settings = start?.config as Record<string, unknown> | undefined;
  return [
    heading,
    table(["", ""], rows),
    curvesSvg(records, { title }),
    settings
      ? `<details><summary>settings</summary>${
        table(["setting", "value"], settingsRows(settings))
      }` +
        `</details>`
      : "",
  ].join("\n");
}

/** Writes `dir`/report.html: the run's section as a page of its own. */
export async function writeRunReport(dir: string, title: string): Promise<string> {
  const out = join(dir, "report.html");
  await writeTextAtomic(out, page(title, runSection(dir, title, dir, 1)));
  return out;
}

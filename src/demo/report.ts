// OUT/report.html of the demo: the results tables (scores in percent, as the paper prints them),
// a chart comparing the adapter combinations, what the paper reports for scale, and one section
// per stage with its command, time, curves and links to its folders. One file, no network: the
// charts are inline SVG.
import { join, relative } from "node:path";
import { writeTextAtomic } from "../formats/atomic.ts";
import { groupedBars } from "../report/bars.ts";
import { esc, keyValues, link, page, table } from "../report/html.ts";
import { duration } from "../report/run_info.ts";
import { runSection } from "../report/run_page.ts";
import { inputsDir, type PlanOptions, type Stage } from "./plan.ts";
import { pct, type ResultTable } from "./results.ts";

export interface StageRecord {
  id: string;
  /** Seconds this demo run spent on it; null when an earlier run finished it. */
  seconds: number | null;
}

export interface ReportInfo {
  device: string;
  version: string;
  seconds: number;
  stages: Stage[];
  records: Map<string, StageRecord>;
  tables: ResultTable[];
}

/** The paper's roberta-large numbers on the real datasets, for scale (reference section 5/6). */
const PAPER = `<h3 class="tt">What the paper reports with roberta-large on the real datasets ` +
  `(test sets)</h3>` + table(
    ["task (metric)", "RoBERTa-large", "K-Adapter"],
    [
      ["OpenEntity (Mi-F1)", "76.23", "77.61 (F+L)"],
      ["FIGER (accuracy / Ma-F1 / Mi-F1)", "56.31 / 82.43 / 77.83", "61.81 / 84.87 / 80.54 (F+L)"],
      ["TACRED (F1)", "71.25", "72.04 (F+L)"],
      ["LAMA T-REx (P@1)", "27.1", "29.1 (F)"],
      ["LAMA Google-RE (P@1)", "4.8", "7.0 (F)"],
    ],
    undefined,
    true,
  ) + `<p class="note">Scores in percent.</p>`;

const UNITS = "Scores in percent (the paper's convention), here and in every stage below; " +
  "losses and perplexity are plain numbers.";

function resultTable(t: ResultTable): string {
  const rows = t.rows.map(([name, ...xs]) => [name, ...xs.map(pct)]);
  return `<h3 class="tt">${esc(t.title)}</h3>` +
    `<div class="scroll">${table(t.head, rows, undefined, true)}</div>` +
    `<p class="note">${esc(t.note)} Scores in percent.</p>`;
}

/** The results tables, the comparison chart after the last table it draws from. */
function results(tables: ResultTable[]): string[] {
  const last = tables.findLastIndex((t) => t.main !== undefined);
  return tables.flatMap((t, i) =>
    i === last ? [resultTable(t), comboChart(tables)] : [resultTable(t)]
  );
}

/** A command line, its flags kept whole when it wraps (values may break anywhere). */
function command(args: string[]): string {
  return `<code>kadapter ${
    args.map((a) => a.startsWith("-") ? `<span class="flag">${esc(a)}</span>` : esc(a)).join(" ")
  }</code>`;
}

/** The main score of each table with a row per adapter combination, as grouped bars. */
export function comboChart(tables: ResultTable[]): string {
  const combos = tables.filter((t) => t.main !== undefined && t.rows.length);
  if (!combos.length) return "";
  const series = combos[0].rows.map((r) => r[0]);
  const groups = combos.map((t) => ({
    label: `${t.title.split(" (")[0].toLowerCase()} (${t.head[t.main!]})`,
    values: series.map((name) => {
      const v = t.rows.find((r) => r[0] === name)?.[t.main!];
      return typeof v === "number" ? v * 100 : null;
    }),
  }));
  return `<figure class="scroll">${
    groupedBars("adapter combinations compared (dev, %)", series, groups)
  }` +
    `<figcaption class="note">The main score of each fine-tuning table above per adapter ` +
    `combination (one seed).</figcaption></figure>`;
}

function stageSection(s: Stage, rec: StageRecord | undefined, out: string): string {
  const earlier = rec?.seconds == null ? " (done by an earlier run)" : "";
  const took = s.run || rec?.seconds == null ? earlier : ` (${duration(rec.seconds)})`;
  const head = `<p>${command(s.args)}${esc(took)}</p>`;
  if (s.run) return runSection(s.run, s.title, out, 3, head);
  const output = relative(out, s.output);
  return `<h3>${esc(s.title)}</h3>${head}<p>output: ${link(output, output).html}</p>`;
}

export async function writeDemoReport(o: PlanOptions, info: ReportInfo): Promise<string> {
  const encoder = o.pretrain
    ? "pretrained by this run (stages below)"
    : "the bundled one (data/world/encoder, made by data/make_encoder.ts); its pretraining:";
  const body = [
    `<h1>kadapter demo</h1>`,
    `<p>K-Adapter end to end on bundled data with a tiny RoBERTa (2 layers, hidden 64): the ` +
    `factual and linguistic adapters infused into the frozen encoder, fine-tuning with each ` +
    `adapter combination, and LAMA probing. Every number below comes from this run's folders.</p>`,
    keyValues([
      ["kadapter", info.version],
      ["device", info.device],
      [
        "settings",
        `--seed ${o.seed}${o.quick ? " --quick" : ""}${o.pretrain ? " --pretrain" : ""}`,
      ],
      ["time", duration(info.seconds) + keptNote(info)],
      ["inputs", link("inputs", "inputs/")],
    ]),
    `<h2>Results</h2>`,
    `<p class="note">${UNITS}</p>`,
    ...results(info.tables),
    PAPER,
    `<h2>Stages</h2>`,
    `<p>The encoder: ${esc(encoder)}</p>`,
    o.pretrain ? "" : runSection(
      join(inputsDir(o.out), "encoder_pretraining"),
      "encoder masked-LM pretraining (bundled)",
      o.out,
      3,
    ),
    ...info.stages.map((s) => stageSection(s, info.records.get(s.id), o.out)),
  ].join("\n");
  const path = join(o.out, "report.html");
  await writeTextAtomic(path, page("kadapter demo", body));
  return path;
}

/** Says which stages an earlier run did, whose time the total leaves out. */
function keptNote(info: ReportInfo): string {
  const kept = info.stages.filter((s) => info.records.get(s.id)?.seconds == null).length;
  if (kept === 0) return "";
  return kept === info.stages.length
    ? " (this run; every stage was done by an earlier run)"
    : ` (this run; ${kept} of ${info.stages.length} stages were done by an earlier run)`;
}

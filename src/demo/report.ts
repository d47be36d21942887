// OUT/report.html of the demo: the results tables, what the paper reports for scale, and one
// section per stage with its command, time, curves and links to its folders. One file, no
// network: the curves are inline SVG.
import { join, relative } from "node:path";
import { writeTextAtomic } from "../formats/atomic.ts";
import { esc, link, page, table } from "../report/html.ts";
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
const PAPER = table(
  ["task (metric)", "RoBERTa-large", "K-Adapter"],
  [
    ["OpenEntity (Mi-F1)", "76.23", "77.61 (F+L)"],
    ["FIGER (accuracy / Ma-F1 / Mi-F1)", "56.31 / 82.43 / 77.83", "61.81 / 84.87 / 80.54 (F+L)"],
    ["TACRED (F1)", "71.25", "72.04 (F+L)"],
    ["LAMA T-REx (P@1)", "27.1", "29.1 (F)"],
    ["LAMA Google-RE (P@1)", "4.8", "7.0 (F)"],
  ],
  "What the paper reports with roberta-large on the real datasets (test sets)",
);

function resultTable(t: ResultTable): string {
  return table(t.head, t.rows.map(([name, ...xs]) => [name, ...xs.map(pct)]), t.title, true) +
    `<p class="note">${esc(t.note)}</p>`;
}

function stageSection(s: Stage, rec: StageRecord | undefined, out: string): string {
  const took = rec?.seconds == null ? "done by an earlier run" : `${rec.seconds.toFixed(1)} s`;
  const head = `<p><code>kadapter ${esc(s.args.join(" "))}</code> (${esc(took)})</p>`;
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
    table(["", ""], [
      ["kadapter", info.version],
      ["device", info.device],
      [
        "settings",
        `seed ${o.seed}${o.quick ? ", --quick" : ""}${o.pretrain ? ", --pretrain" : ""}`,
      ],
      ["time", `${info.seconds.toFixed(0)} s`],
      ["inputs", link("inputs", "inputs/")],
    ]),
    `<h2>Results</h2>`,
    ...info.tables.map(resultTable),
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

// The demo's results, read back from its run folders (never from memory, so a resumed demo
// reports the same), shaped like the paper's tables: one row per model, scores in [0, 1] here and
// printed in percent (pct) in the terminal and the report alike.
import { join } from "node:path";
import { readRunLog } from "../train/log.ts";
import { COMBOS, type PlanOptions } from "./plan.ts";

export interface ResultTable {
  title: string;
  head: string[];
  /** A row: the model's name, then scores in [0, 1] (null: not measured). */
  rows: [string, ...(number | null)[]][];
  note: string;
  /**
   * Tables with a row per adapter combination: the column (index into `head`) of the main score,
   * compared across combinations in the report's chart.
   */
  main?: number;
}

/** The metrics of a run's last dev evaluation (null when it has none). */
export function lastEval(run: string): Record<string, number> | null {
  let records;
  try {
    records = readRunLog(join(run, "metrics.jsonl"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const last = records.findLast((r) => r.event === "eval");
  return last ? last as Record<string, number> : null;
}

interface Scores {
  p1: number;
  p10: number;
  mrr: number;
}

/** Macro-averaged scores of one probed model in a probe's results.json. */
function probeScores(dir: string, model: string): Scores | null {
  try {
    const r = JSON.parse(Deno.readTextFileSync(join(dir, "results.json")));
    return r.models?.[model]?.macro ?? null;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

export function demoTables(o: PlanOptions): ResultTable[] {
  const pick = (m: Record<string, number> | null, ...keys: string[]) =>
    keys.map((k) => m?.[k] ?? null);
  const fac = lastEval(join(o.out, "fac")), lin = lastEval(join(o.out, "lin"));
  const perCombo = (dir: string, keys: string[]) =>
    COMBOS.map((c): ResultTable["rows"][number] => [
      c.name,
      ...pick(lastEval(join(o.out, dir, c.dir)), ...keys),
    ]);
  const probe = (sub: string, model: string) => {
    const s = probeScores(join(o.out, "probe", sub), model);
    return s ? [s.p1, s.p10, s.mrr] : [null, null, null];
  };
  return [
    {
      title: "Knowledge infusion (dev)",
      head: ["adapter", "micro-F1", "macro-F1", "UAS"],
      rows: [
        ["fac: relation classification", ...pick(fac, "micro_f1", "macro_f1"), null],
        ["lin: dependency heads", null, null, ...pick(lin, "uas")],
      ],
      note: "Each adapter trained on the frozen encoder (paper section 4).",
    },
    {
      title: "Entity typing (bundled OpenEntity-style sample, dev)",
      head: ["model", "P", "R", "Mi-F1", "Strict", "Ma-F1"],
      rows: perCombo("entity_typing", ["micro_p", "micro_r", "micro_f1", "strict", "macro_f1"]),
      main: 3,
      note: "Loose micro P/R/F1, strict accuracy and loose macro F1 as in the paper's Table 2.",
    },
    {
      title: "Relation classification (bundled TACRED-style sample, dev)",
      head: ["model", "P", "R", "F1"],
      rows: perCombo("relation", ["precision", "recall", "f1"]),
      main: 3,
      note: "Micro P/R/F1 without no_relation, as TACRED's scorer (paper Table 4).",
    },
    {
      title: "LAMA probe (the world's facts, macro over relations)",
      head: ["model", "P@1", "P@10", "MRR"],
      rows: [
        ["RoBERTa, its own MLM head", ...probe("encoder", "encoder")],
        ["RoBERTa + new MLM layer", ...probe("encoder", "encoder+mlm")],
        ["K-Adapter (F) + new MLM layer", ...probe("fac", "encoder+adapters")],
      ],
      note: "Cloze queries ranked over the world's 110 names (paper Table 5); a uniform guess " +
        "scores P@1 0.91, P@10 9.09. The new MLM layers are trained the same way on the same " +
        "fact-free corpus. At this size the fac adapter does not store facts a probe can read " +
        "(tools/experiments/lama_world.md).",
    },
  ];
}

/** Percent with two decimals, as the paper prints scores ("–" when not measured). */
export function pct(x: number | null): string {
  return x === null ? "–" : (x * 100).toFixed(2);
}

/** A table as aligned text for the terminal. */
export function textTable(t: ResultTable): string {
  const cells = [t.head, ...t.rows.map(([name, ...xs]) => [name, ...xs.map(pct)])];
  const widths = t.head.map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  const line = (r: string[]) =>
    r.map((c, j) => j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j])).join("  ");
  return [t.title, line(t.head), ...cells.slice(1).map(line)].join("\n");
}

// The text tables `probe lama` prints: one model's scores per relation, or several models'
// side by side; P@1 and P@10 in percent, MRR as a fraction, then the macro and micro rows.
import type { LamaScores } from "./lama_metrics.ts";
import type { ProbeReport } from "./lama_probe.ts";

const pct = (x: number) => (100 * x).toFixed(2);

/** The results table: relation, n, P@1, P@10, MRR (percent, MRR as a fraction), macro row. */
export function resultsTable(
  relations: Record<string, LamaScores & { n: number }>,
  macro: LamaScores,
  micro: LamaScores & { n: number },
): string {
  const rows = [
    ["relation", "n", "P@1", "P@10", "MRR"],
    ...Object.entries(relations).map(([r, s]) => [
      r,
      String(s.n),
      pct(s.p1),
      pct(s.p10),
      s.mrr.toFixed(4),
    ]),
    [
      "macro",
      String(Object.keys(relations).length) + " rel",
      pct(macro.p1),
      pct(macro.p10),
      macro.mrr.toFixed(4),
    ],
    ["micro", String(micro.n), pct(micro.p1), pct(micro.p10), micro.mrr.toFixed(4)],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")
  ).join("\n");
}

/** The side-by-side table: relation, n, then P@1, P@10, MRR of each model; macro and micro. */
export function comparisonTable(models: { name: string; report: ProbeReport }[]): string {
  const first = models[0].report;
  const cells = (s: LamaScores) => [pct(s.p1), pct(s.p10), s.mrr.toFixed(4)];
  const header2 = ["relation", "n", ...models.flatMap(() => ["P@1", "P@10", "MRR"])];
  const header1 = ["", "", ...models.flatMap((m) => [m.name, "", ""])];
  const rows = [
    header1,
    header2,
    ...Object.entries(first.relations).map(([r, s]) => [
      r,
      String(s.n),
      ...models.flatMap((m) => cells(m.report.relations[r])),
    ]),
    [
      "macro",
      String(Object.keys(first.relations).length) + " rel",
      ...models.flatMap((m) => cells(m.report.macro)),
    ],
    ["micro", String(first.micro.n), ...models.flatMap((m) => cells(m.report.micro))],
  ];
  const widths = header2.map((_, c) => Math.max(...rows.slice(1).map((r) => r[c].length)));
  // A model's name spans its three columns.
  const span = (c: number) => widths[c] + 2 + widths[c + 1] + 2 + widths[c + 2];
  const top = ["".padEnd(widths[0]), "".padStart(widths[1])];
  models.forEach((m, i) => top.push(m.name.padStart(span(2 + 3 * i))));
  return [
    top.join("  "),
    ...rows.slice(1).map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")
    ),
  ].join("\n");
}

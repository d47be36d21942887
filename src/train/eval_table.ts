// Dev evaluations as a compact table printed while a run trains: a header row at the first
// evaluation (and whenever the metrics change), then one row per evaluation with the best
// value so far, so a user sees progress without opening metrics.jsonl.

export interface Best {
  metric: string;
  value: number;
  step: number;
}

const num = (v: number) => Number.isFinite(v) ? v.toFixed(4) : String(v);

export class EvalTable {
  #names: string[] | null = null;

  constructor(readonly totalSteps: number) {}

  /** The lines to print for an evaluation at `step` (a header first when needed). */
  lines(step: number, metrics: Record<string, number>, best: Best | null): string[] {
    const names = Object.keys(metrics).filter((k) => typeof metrics[k] === "number");
    const width = (n: string) => Math.max(n.length, 7);
    const stepWidth = Math.max(4, String(this.totalSteps).length * 2 + 1);
    const out: string[] = [];
    if (this.#names?.join() !== names.join()) {
      this.#names = names;
      const head = ["eval", "step".padStart(stepWidth), ...names.map((n) => n.padStart(width(n)))];
      out.push(head.join("  ") + (best ? `  | best ${best.metric}` : ""));
    }
    const row = [
      "    ",
      `${step}/${this.totalSteps}`.padStart(stepWidth),
      ...names.map((n) => num(metrics[n]).padStart(width(n))),
    ];
    const mark = best ? `  | ${num(best.value)} at step ${best.step}` : "";
    out.push(row.join("  ") + mark);
    return out;
  }
}

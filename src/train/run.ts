// What every training command does around the loop: refuse to overwrite a run without
// --resume, refuse a resume whose settings would change the run, and keep the last dev
// evaluation and the curves plot up to date.
import { join } from "node:path";
import { readTrainState } from "./checkpoint.ts";
import { writeCurves } from "./plot.ts";

/** A run that cannot start as asked (settings, data, folders); the message says why. */
export class RunError extends Error {
  override name = "RunError";
}

/**
 * Checks `out` before a run starts: without `resume` it must hold no checkpoint; with it, the
 * checkpoint's settings listed in `fixed` must equal `config`'s. Returns the checkpoint's
 * settings on resume (so a run can reuse what it derived, e.g. a label list), else null.
 */
export async function openRun(
  out: string,
  resume: boolean,
  config: Record<string, unknown>,
  fixed: readonly string[],
): Promise<Record<string, unknown> | null> {
  const ckpt = join(out, "checkpoint");
  if (!resume) {
    if (await Deno.stat(ckpt).then(() => true, () => false)) {
      throw new RunError(
        `${out} already holds a run; pass --resume to continue it, or pick another --out`,
      );
    }
    return null;
  }
  const prior = (await readTrainState(ckpt)).config;
  const show = (v: unknown) => typeof v === "string" ? v : JSON.stringify(v);
  const changed = fixed.filter((k) => JSON.stringify(prior[k]) !== JSON.stringify(config[k]));
  if (changed.length) {
    throw new RunError(
      `--resume: ${
        changed.map((k) => `${k} was ${show(prior[k])}, now ${show(config[k])}`)
          .join("; ")
      }. A resumed run continues exactly only with the same settings.`,
    );
  }
  return prior;
}

/** The loop's onEval hook: remembers the last evaluation and redraws `out`/curves.svg. */
export class EvalTracker {
  last: { step: number; metrics: Record<string, number> } | null = null;

  constructor(readonly out: string, readonly title: string) {}

  readonly onEval = async (step: number, metrics: Record<string, number>): Promise<void> => {
    this.last = { step, metrics };
    await this.plot();
  };

  /** The metrics of an evaluation at `step`, if the last one was there. */
  at(step: number): Record<string, number> | null {
    return this.last?.step === step ? this.last.metrics : null;
  }

  plot(): Promise<void> {
    return writeCurves(join(this.out, "metrics.jsonl"), join(this.out, "curves.svg"), {
      title: this.title,
    });
  }
}

// The one runner skeleton behind every training command (train fac|lin, model pretrain,
// finetune, probe train-mlm): open the run folder (no overwrite without --resume, the same
// settings on resume), let the command build its model and data, run the loop with periodic
// evaluation and the best/ export, write the final output folder, the curves and, asked, the
// report page. A command configures it with a Job: what to train, how to evaluate, and how to
// save what it makes.
import { join } from "node:path";
import type { DropoutRng, Tensor } from "../tensor/mod.ts";
import { writeRunReport } from "../report/run_page.ts";
import { train, type TrainResult } from "./loop.ts";
import { EvalTracker, loopOptions, openRun, type RunSettings, sayer } from "./run.ts";

/** Where a saved export stands: the step and the dev metrics there (null if not evaluated). */
export interface SavePoint {
  step: number;
  totalSteps: number;
  dev: Record<string, number> | null;
}

/** What a command hands the runner once its model and data are built. */
export interface Job {
  /** Training units the loop draws batches of indices from. */
  trainSize: number;
  /** Mean loss of a micro-batch of training indices (inside the step's tidy scope). */
  loss(indices: number[]): Tensor;
  params: [string, Tensor][];
  /** Every dropout stream the step draws from (checkpointed with the run). */
  dropout: DropoutRng[];
  /** Dev metrics, the model in eval mode and back; absent without dev data. */
  evaluate?: () => Promise<Record<string, number>>;
  bestMetric: string;
  lowerIsBetter?: boolean;
  /** The status line naming what trains, given the run's total steps. */
  describe(totalSteps: number): string;
  /** Writes the command's export (atomically) to `dir`: best/ and the final output. */
  save(dir: string, at: SavePoint, extra?: Record<string, unknown>): Promise<void>;
  /**
   * Work after the loop and before the final save (e.g. test-set scores); what it returns is
   * recorded in the final export and the result.
   */
  finish?(result: TrainResult, dev: Record<string, number> | null): Promise<Finish>;
  dispose(): void;
}

export interface Finish {
  dev?: Record<string, number> | null;
  extra?: Record<string, unknown>;
}

export interface RunSpec {
  settings: RunSettings;
  /** The run's settings as recorded (checkpoint, log, --resume check); `build` may add to it. */
  config: Record<string, unknown>;
  /** Settings a resumed run must share with the run it continues. */
  fixed: readonly string[];
  /** The plot's title, e.g. "kadapter train fac". */
  title: string;
  /** The final export's folder under the run folder ("adapter", "model"). */
  output: string;
  /** Builds model and data; `prior` is the resumed run's recorded settings (else null). */
  build(prior: Record<string, unknown> | null): Promise<Job>;
}

export interface RunOutcome extends TrainResult {
  /** Dev metrics of the final weights (none without dev data or an evaluation there). */
  dev: Record<string, number> | null;
  /** The final export, and best/ when one was kept. */
  outputDir: string;
  bestDir: string | null;
  /** report.html, when asked for. */
  reportPath: string | null;
  extra: Record<string, unknown>;
}

export async function runTraining(spec: RunSpec): Promise<RunOutcome> {
  const o = spec.settings, say = sayer(o);
  const prior = await openRun(o.out, o.resume, spec.config, spec.fixed);
  const job = await spec.build(prior);
  try {
    const shared = loopOptions(o, job.trainSize), total = shared.steps;
    const evals = new EvalTracker(o.out, spec.title);
    const point = (step: number, dev: Record<string, number> | null) => ({
      step,
      totalSteps: total,
      dev,
    });
    say(job.describe(total));
    const result = await train<number[]>({
      ...shared,
      params: job.params,
      makeBatch: (indices) => indices,
      loss: (indices) => job.loss(indices),
      dropout: job.dropout,
      evaluate: job.evaluate,
      onEval: evals.onEval,
      saveBest: (dir) => job.save(dir, point(evals.last!.step, evals.last!.metrics)),
      bestMetric: job.bestMetric,
      higherIsBetter: !job.lowerIsBetter,
      config: spec.config,
    });
    let dev = evals.at(result.step);
    const done = await job.finish?.(result, dev) ?? {};
    if (done.dev !== undefined) dev = done.dev;
    const extra = done.extra ?? {};
    const outputDir = join(o.out, spec.output);
    await job.save(outputDir, point(result.step, dev), extra);
    await evals.plot();
    const reportPath = o.report ? await writeRunReport(o.out, spec.title) : null;
    const bestDir = result.best ? join(o.out, "best") : null;
    return { ...result, dev, outputDir, bestDir, reportPath, extra };
  } finally {
    job.dispose();
  }
}

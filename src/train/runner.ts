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
import {
  EvalTracker,
  loopOptions,
  openRun,
  type Prior,
  RunError,
  type RunSettings,
  sayer,
} from "./run.ts";

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
  /** Work once the run is sure to start, before its first step (e.g. a feature cache). */
  prepare?(totalSteps: number): Promise<void>;
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
  /** The plot's title, e.g. "kadapter train fac". */
  title: string;
  /** The final export's folder under the run folder ("adapter", "model"). */
  output: string;
  /** Builds model and data; `prior` is the resumed run's recorded settings (else null). */
  build(prior: Prior | null): Promise<Job>;
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
  const prior = await openRun(o.out, { ...o, output: spec.output }, spec.config);
  const job = await spec.build(prior);
  try {
    const shared = loopOptions(o, job.trainSize), total = shared.steps;
    if (shared.warmup !== o.warmup) spec.config.warmupSteps = shared.warmup;
    if (prior) extendOrRefuse(o, prior, total, job.trainSize);
    const bestMetric = o.bestMetric ?? job.bestMetric;
    const lowerIsBetter = o.bestMetric ? lowerIsBetterName(o.bestMetric) : job.lowerIsBetter;
    const evals = new EvalTracker(o.out, spec.title);
    const point = (step: number, dev: Record<string, number> | null) => ({
      step,
      totalSteps: total,
      dev,
    });
    say(job.describe(total));
    await job.prepare?.(total);
    const result = await train<number[]>({
      ...shared,
      params: job.params,
      makeBatch: (indices) => indices,
      loss: (indices) => job.loss(indices),
      dropout: job.dropout,
      evaluate: job.evaluate,
      onEval: evals.onEval,
      saveBest: (dir) => job.save(dir, point(evals.last!.step, evals.last!.metrics)),
      bestMetric,
      higherIsBetter: !lowerIsBetter,
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

/** Whether a metric chosen by name is a loss (lower is better), as the HF Trainer decides. */
function lowerIsBetterName(metric: string): boolean {
  return /loss|perplexity/.test(metric);
}

/**
 * A resumed run must have steps left: a finished run resumes only with a larger --steps or
 * --epochs, which extends it (with a note: its learning-rate schedule now ends later).
 */
function extendOrRefuse(o: RunSettings, prior: Prior, total: number, trainSize: number): void {
  if (prior.step >= total) {
    throw new RunError(
      prior.step === total
        ? `the run in ${o.out} is finished (step ${total} of ${total}); to train it further, ` +
          `resume with a larger --steps (or --epochs), or --overwrite to start afresh`
        : `the checkpoint in ${o.out} is at step ${prior.step}, past this run's ${total} ` +
          `steps; resume with --steps of at least ${prior.step + 1}`,
    );
  }
  // The same data and batch (both must stay), so the same steps per epoch.
  const { steps, epochs } = prior.config;
  const before = typeof steps === "number"
    ? steps
    : (epochs as number) * Math.floor(trainSize / o.batch);
  if (before !== total) {
    sayer(o)(
      `note: the run had ${before} steps, now ${total}: continuing from step ${prior.step} ` +
        `with the learning-rate schedule of a ${total}-step run (so the result differs from ` +
        `a run started with ${total} steps)`,
    );
  }
}

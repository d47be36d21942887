// What every training command does around the loop: the settings they share and the loop
// options made from them, refusing to overwrite a run without --resume or to resume with
// settings that would change it, and keeping the last dev evaluation and the plot up to date.
import { brief, UserError } from "../errors.ts";
import { join } from "node:path";
import { UNRECORDED_TOKENIZATION } from "../formats/tokenization.ts";
import { defaultNoDecay } from "../nn/optim.ts";
import { readTrainState } from "./checkpoint.ts";
import type { TrainOptions } from "./loop.ts";
import { writeCurves } from "./plot.ts";
import type { ProgressOptions } from "./progress.ts";
import { isObject } from "../formats/json.ts";

/** A run that cannot start as asked (settings, data, folders); the message says why. */
export class RunError extends UserError {
}

/**
 * Recorded settings a resumed run may change: the length of the run (resuming with more
 * steps or epochs extends it), and what does not change the weights' trajectory (where dev
 * and test data are, the memory-saving recompute, where a feature cache is kept). Every other
 * recorded setting must stay.
 */
const MAY_CHANGE = new Set([
  "steps",
  "epochs",
  "recompute",
  "dev",
  "test",
  "devLimit",
  "featureCacheStorage",
]);

/** The files and folders a run writes in its folder, which --overwrite deletes. */
const RUN_ENTRIES = [
  /^checkpoint(-\d+)?$/,
  /^best$/,
  /^metrics\.jsonl$/,
  /^curves\.svg$/,
  /^report\.html$/,
  /^tensorboard$/,
  /^\.(checkpoint(-\d+)?|best)\.tmp-/,
];

/** A resumed run's recorded settings and the step its checkpoint is at. */
export interface Prior {
  config: Record<string, unknown>;
  step: number;
}

/**
 * Checks `out` before a run starts. Without `resume` it must hold no checkpoint, unless
 * `overwrite` deletes the earlier run's files (`output` names the run's export folder). With
 * it, the checkpoint's settings must equal `config`'s but for MAY_CHANGE (settings either
 * side lacks are not compared: older checkpoints, or derived later). Returns the
 * checkpoint's settings and step on resume (so a run can reuse what it derived, e.g. a label
 * list), else null.
 */
export async function openRun(
  out: string,
  o: { resume: boolean; overwrite?: boolean; output: string },
  config: Record<string, unknown>,
): Promise<Prior | null> {
  const ckpt = join(out, "checkpoint");
  if (o.resume && o.overwrite) {
    throw new RunError("--resume continues the run in --out, --overwrite deletes it: pass one");
  }
  if (!o.resume) {
    const held = await Deno.stat(ckpt).then(() => true, () => false);
    if (o.overwrite) await removeRun(out, o.output);
    else if (held) {
      throw new RunError(
        `${out} already holds a run; pass --resume to continue it, --overwrite to delete it ` +
          `and start afresh, or pick another --out`,
      );
    }
    return null;
  }
  const state = await readTrainState(ckpt);
  const prior = recordedLater(state.config);
  const show = (v: unknown) => typeof v === "string" && v.length <= 80 ? v : brief(v, 80);
  const changed = Object.keys(config).filter((k) =>
    !MAY_CHANGE.has(k) && Object.hasOwn(prior, k) &&
    JSON.stringify(prior[k]) !== JSON.stringify(config[k])
  );
  if (changed.length) {
    throw new RunError(
      `--resume: ${
        changed.map((k) => `${k} was ${show(prior[k])}, now ${show(config[k])}`)
          .join("; ")
      }. A resumed run continues exactly only with the same settings (or --overwrite to ` +
        `start afresh).`,
    );
  }
  return { config: prior, step: state.step };
}

/** Deletes what a run wrote in `out` (RUN_ENTRIES and its export folder), nothing else. */
async function removeRun(out: string, output: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(out));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const e of entries) {
    if (e.name === output || RUN_ENTRIES.some((r) => r.test(e.name))) {
      await Deno.remove(join(out, e.name), { recursive: true });
    }
  }
}

/**
 * A checkpoint's settings with those it predates filled in as it ran: runs before the
 * tokenization was recorded used `hf`; before TACRED's no_relation cap (settings.maxNegatives)
 * they kept every row, which a cap of 0 means. So an older run resumes unchanged.
 */
export function recordedLater(prior: Record<string, unknown>): Record<string, unknown> {
  const out = { ...prior };
  if (!Object.hasOwn(out, "tokenization")) out.tokenization = UNRECORDED_TOKENIZATION;
  const s = out.settings;
  if (out.task === "relation" && isObject(s) && !Object.hasOwn(s, "maxNegatives")) {
    out.settings = { ...s, maxNegatives: 0 };
  }
  return out;
}

/**
 * A list of strings the resumed run recorded under `key` (e.g. its label list), checked; null
 * on a fresh run.
 */
export function priorStrings(prior: Prior | null, key: string): string[] | null {
  if (prior === null) return null;
  const v = prior.config[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new RunError(
      `--resume: the checkpoint's settings hold no list of strings under "${key}" ` +
        `(${brief(v)}); the checkpoint is damaged or from another command`,
    );
  }
  return v;
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

/** The settings every training command takes. */
export interface RunSettings {
  /** Run folder: metrics.jsonl, curves.svg, checkpoint/, best/, and the command's output. */
  out: string;
  /** Examples per optimizer step, in `accumulate` micro-batches (default 1). */
  batch: number;
  accumulate?: number;
  /** Peak learning rate of the linear warmup/decay schedule. */
  lr: number;
  epochs: number;
  /** Optimizer steps; overrides epochs. */
  steps?: number;
  warmup: number;
  /** AdamW decoupled weight decay, never on biases and LayerNorm weights. */
  weightDecay: number;
  /** Global gradient-norm clipping (0: off). */
  maxGradNorm: number;
  /** Seed of the weights a run creates, the data order, dropout and masks. */
  seed: number;
  /** Steps between dev evaluations (default: once per epoch) and at the end. */
  evalEvery?: number;
  checkpointEvery?: number;
  logEvery?: number;
  /** Continue the run in `out` from its checkpoint. */
  resume: boolean;
  /** Delete the run already in `out` (its checkpoints, log and outputs) and start afresh. */
  overwrite?: boolean;
  /** Checkpoints kept as out/checkpoint-<step>/ (default 1: out/checkpoint/ alone). */
  saveTotalLimit?: number;
  /** The dev metric that picks best/ (default: the task's); lower is better for losses. */
  bestMetric?: string;
  /** Also log to these tools: "tensorboard" writes events to out/tensorboard/. */
  reportTo?: string[];
  /** The warmup is the preset's, not the user's: one past half the run is cut to 10%. */
  presetWarmup?: boolean;
  /** Also write `out`/report.html, the run as one self-contained page. */
  report?: boolean;
  /** Print where the GPU time of a step goes, per kernel family (train/loop.ts). */
  profile?: boolean;
  progress?: ProgressOptions;
  /** Stop request, checked between steps (default: Ctrl-C). */
  stop?: () => boolean;
  /** Status lines (default: console.log). */
  say?: (line: string) => void;
}

/** The shared settings as every run records them (start record, checkpoint, --resume check). */
export function runConfig(o: RunSettings): Record<string, unknown> {
  return {
    batch: o.batch,
    accumulate: o.accumulate ?? 1,
    lr: o.lr,
    epochs: o.epochs,
    steps: o.steps ?? null,
    warmup: o.warmup,
    weightDecay: o.weightDecay,
    maxGradNorm: o.maxGradNorm,
    seed: o.seed,
  };
}

/** The run's status-line printer. */
export function sayer(o: RunSettings): (line: string) => void {
  return o.say ?? ((line) => console.log(line));
}

type SharedLoop = Pick<
  TrainOptions<unknown>,
  | "examples"
  | "batchSize"
  | "accumulate"
  | "steps"
  | "lr"
  | "warmup"
  | "weightDecay"
  | "maxGradNorm"
  | "noDecay"
  | "seed"
  | "out"
  | "checkpointEvery"
  | "saveTotalLimit"
  | "tensorboard"
  | "logEvery"
  | "evalEvery"
  | "resume"
  | "stop"
  | "progress"
  | "profile"
>;

/**
 * The loop options a run's settings give for `examples` training examples, and its total
 * steps; refuses a batch that does not split into the micro-batches or is larger than the
 * data, and notes a warmup as long as the run.
 */
export function loopOptions(o: RunSettings, examples: number): SharedLoop & { steps: number } {
  const accumulate = o.accumulate ?? 1;
  if (o.batch % accumulate !== 0) {
    throw new RunError(`batch ${o.batch} does not split into ${accumulate} equal micro-batches`);
  }
  if (examples < o.batch) {
    throw new RunError(`${examples} training examples are fewer than one batch (${o.batch})`);
  }
  const stepsPerEpoch = Math.floor(examples / o.batch);
  const steps = o.steps ?? o.epochs * stepsPerEpoch;
  let warmup = o.warmup;
  if (o.presetWarmup && warmup > steps / 2) {
    warmup = Math.round(steps / 10);
    sayer(o)(
      `note: the preset's warmup (${o.warmup} steps) is over half of this ${steps}-step run; ` +
        `warming up for ${warmup} steps (10%) instead (--warmup N chooses)`,
    );
  } else if (warmup >= steps) {
    sayer(o)(`note: warmup (${warmup} steps) covers the whole run (${steps} steps)`);
  }
  return {
    examples,
    batchSize: o.batch / accumulate,
    accumulate,
    steps,
    lr: o.lr,
    warmup,
    weightDecay: o.weightDecay,
    maxGradNorm: o.maxGradNorm,
    noDecay: defaultNoDecay,
    seed: o.seed,
    out: o.out,
    checkpointEvery: o.checkpointEvery,
    saveTotalLimit: o.saveTotalLimit,
    tensorboard: o.reportTo?.includes("tensorboard") ? join(o.out, "tensorboard") : undefined,
    logEvery: o.logEvery,
    evalEvery: o.evalEvery ?? stepsPerEpoch,
    resume: o.resume,
    stop: o.stop,
    progress: o.progress,
    profile: o.profile,
  };
}

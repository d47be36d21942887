// The generic training loop behind `train fac|lin` and `finetune`: seeded resumable batches,
// gradient accumulation, AdamW with warmup/decay and clipping, periodic evaluation keeping the
// best checkpoint, atomic checkpoints, a JSON-lines log and a progress bar.
//
// Losses and gradient norms stay on the GPU and are read back every `logEvery` steps (each
// readback stalls the queue), and always before a checkpoint or an evaluation, so a NaN is
// caught before it can reach a saved checkpoint.
import { UserError } from "../errors.ts";
import { join } from "node:path";
import { AdamW } from "../nn/optim.ts";
import { linearWarmupDecay } from "../nn/schedule.ts";
import { pauseProfile, profileTable, startProfile, stopProfile } from "../gpu/profile.ts";
import { deviceName } from "../gpu/device.ts";
import { sync } from "../gpu/queue.ts";
import {
  backward,
  concat,
  type DropoutRng,
  full,
  keep,
  noGrad,
  nonFiniteCount,
  reshape,
  type Tensor,
  tidy,
} from "../tensor/mod.ts";
import { CheckpointError, loadCheckpoint, saveCheckpoint, type TrainState } from "./checkpoint.ts";
import { keepCheckpoint } from "./checkpoint_history.ts";
import { EvalTable } from "./eval_table.ts";
import { interrupted, watchInterrupts } from "./interrupt.ts";
import { readJsonl, RunLog } from "./log.ts";
import { Progress, type ProgressOptions } from "./progress.ts";
import config from "../../deno.json" with { type: "json" };
import { EpochSampler } from "./sampler.ts";

export interface TrainOptions<B> {
  /** The trainable parameters under their (HF) names. */
  params: [string, Tensor][];
  /**
   * Number of training examples and how to build a batch from example indices; it runs in
   * the step's tidy scope, so tensors it uploads are freed after the step.
   */
  examples: number;
  makeBatch: (indices: number[]) => B;
  /** The mean loss of a batch ([1] tensor); runs inside tidy with gradients on. */
  loss: (batch: B) => Tensor;
  /** Examples per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step (losses scaled by 1/accumulate). Default 1. */
  accumulate?: number;
  /** Optimizer steps, or else epochs over the training set. */
  steps?: number;
  epochs?: number;
  lr: number;
  /** Warmup steps of the linear warmup/decay schedule. */
  warmup?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  noDecay?: (name: string) => boolean;
  /** Seed of the data order. */
  seed: number;
  /** The model's dropout streams; their counters are checkpointed. */
  dropout?: DropoutRng[];
  /** Output folder: metrics.jsonl, checkpoint/, best/. */
  out: string;
  checkpointEvery?: number;
  /** Checkpoints kept as out/checkpoint-<step>/ besides out/checkpoint/ (default 1: none). */
  saveTotalLimit?: number;
  logEvery?: number;
  /** Steps between evaluations; the last step is always evaluated. */
  evalEvery?: number;
  /** Dev metrics (the model is the caller's to switch to eval mode and back). */
  evaluate?: () => Promise<Record<string, number>>;
  /** Called after each evaluation (e.g. to redraw a plot). */
  onEval?: (step: number, metrics: Record<string, number>) => void | Promise<void>;
  /**
   * Writes the best model to `dir` (atomically); default: a full training checkpoint. A
   * task saves its exported model (adapter and head) here.
   */
  saveBest?: (dir: string) => Promise<void>;
  /** Metric that picks the best checkpoint, and whether higher is better (default). */
  bestMetric?: string;
  higherIsBetter?: boolean;
  /** Continue from out/checkpoint. */
  resume?: boolean;
  /** Run settings, stored in checkpoints and the log. */
  config?: Record<string, unknown>;
  /** Stop request, checked between steps; default: Ctrl-C (interrupt.ts; twice: at once). */
  stop?: () => boolean;
  /** Also log the scalars as TensorBoard events in this folder. */
  tensorboard?: string;
  progress?: ProgressOptions;
  /**
   * Profile the kernels from the second step on (evaluations left out): the table is written
   * at the end and logged as a `profile` event.
   */
  profile?: boolean;
}

export interface TrainResult {
  step: number;
  totalSteps: number;
  interrupted: boolean;
  /** Loss of each optimizer step run in this call (mean over its micro-batches). */
  losses: number[];
  best: TrainState["best"];
}

export class DivergedError extends UserError {
}

/** What an existing log holds that the run now starting replaces (see log.ts currentRun). */
function replaced(path: string, resumeStep: number | null): Record<string, unknown> {
  let records: Record<string, unknown>[];
  try {
    records = readJsonl(path);
  } catch {
    return {};
  }
  if (resumeStep === null) {
    return records.length ? { restart: { earlier_records: records.length } } : {};
  }
  const later = records.filter((r) => typeof r.step === "number" && r.step > resumeStep).length;
  return later ? { superseded: later } : {};
}

export async function train<B>(o: TrainOptions<B>): Promise<TrainResult> {
  const accumulate = o.accumulate ?? 1;
  const examplesPerStep = o.batchSize * accumulate;
  const sampler = new EpochSampler(o.examples, o.batchSize, {
    seed: o.seed,
    epoch: 0,
    position: 0,
  });
  const total = o.steps ?? Math.floor(((o.epochs ?? 1) * sampler.batchesPerEpoch) / accumulate);
  const ckptDir = join(o.out, "checkpoint"), bestDir = join(o.out, "best");
  const opt = new AdamW(o.params, {
    lr: o.lr,
    weightDecay: o.weightDecay ?? 0,
    maxGradNorm: o.maxGradNorm ?? 0,
    ...(o.noDecay ? { noDecay: o.noDecay } : {}),
  });
  const logPath = join(o.out, "metrics.jsonl");
  let best: TrainState["best"] = null;
  if (o.resume) {
    const s = await loadCheckpoint(ckptDir, o.params, opt);
    sampler.state = s.sampler;
    const streams = o.dropout ?? [];
    if (s.dropout.length !== streams.length) {
      throw new CheckpointError(
        ckptDir,
        `holds ${s.dropout.length} dropout streams, the model has ${streams.length}: it is ` +
          `from another model or damaged`,
      );
    }
    streams.forEach((d, i) => Object.assign(d, s.dropout[i]));
    // A best kept under another metric than this run's cannot be compared: start afresh.
    best = s.best?.metric === o.bestMetric ? s.best : null;
  }
  const earlier = replaced(logPath, o.resume ? opt.step : null);
  const unwatch = o.stop ? () => {} : await watchInterrupts();
  const stop = o.stop ?? interrupted;
  const log = new RunLog(logPath, o.tensorboard);
  const state = (): TrainState => ({
    step: opt.step,
    sampler: sampler.state,
    dropout: (o.dropout ?? []).map(({ seed, counter }) => ({ seed, counter })),
    best,
    config: o.config ?? {},
  });
  let saved = o.resume ? opt.step : -1;
  const kept = () =>
    saved >= 0
      ? `the last checkpoint (${ckptDir}, step ${saved}) is intact`
      : "no checkpoint was saved yet";
  // The loss and gradient norm can be finite while a parameter or moment is not (a parameter
  // without gradient, an overflowing moment): nothing non-finite is ever written. Checked once
  // per step, though best/ and the checkpoint may both be saved at it.
  let finiteAt = -1;
  const checkFinite = async () => {
    if (finiteAt === opt.step) return;
    const t = nonFiniteCount([...o.params.map(([, p]) => p), ...opt.m, ...opt.v]);
    const n = await t.data().then((d) => d[0]).finally(() => t.dispose());
    if (n > 0) {
      throw new DivergedError(
        `training diverged by step ${opt.step}: the parameters or optimizer state hold ${n} ` +
          `non-finite values, so nothing was saved; ${kept()}. Lower the learning rate or ` +
          `check the data.`,
      );
    }
    finiteAt = opt.step;
  };
  const save = async () => {
    await checkFinite();
    await saveCheckpoint(ckptDir, o.params, opt, state());
    await keepCheckpoint(o.out, ckptDir, opt.step, o.saveTotalLimit ?? 1);
    saved = opt.step;
  };
  log.write({
    event: o.resume ? "resume" : "start",
    step: opt.step,
    total,
    version: config.version,
    device: deviceName(),
    ...earlier,
    config: o.config,
  });
  const bar = new Progress(total - opt.step, { label: "train", ...o.progress });
  const table = new EvalTable(total);
  const losses: number[] = [];
  // Steps whose loss and norm are still on the GPU.
  let pending: { step: number; lr: number; micro: Tensor[]; norm: Tensor }[] = [];
  const drain = async () => {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      // Gathered into one buffer, the interval's values come back in one readback.
      const scalars = batch.flatMap((p) => [...p.micro, p.norm]);
      const all = tidy(() => noGrad(() => concat(scalars.map((t) => reshape(t, [1])), 0)));
      const values = await all.data().finally(() => all.dispose());
      let at = 0;
      for (const p of batch) {
        const v = [...values.subarray(at, at += p.micro.length + 1)];
        let loss = 0;
        for (const l of v.slice(0, -1)) loss += l / p.micro.length;
        const gradNorm = v.at(-1)!;
        if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
          throw new DivergedError(
            `training diverged at step ${p.step}: loss ${loss}, gradient norm ${gradNorm}; ` +
              `${kept()}. Lower the learning rate or check the data.`,
          );
        }
        losses.push(loss);
        log.write({ event: "train", step: p.step, loss, lr: p.lr, grad_norm: gradNorm });
        bar.tick(1, { loss, lr: p.lr, "ex/s": bar.rate * examplesPerStep });
      }
    } finally {
      for (const p of batch) for (const t of [...p.micro, p.norm]) t.dispose();
    }
  };
  const write = o.progress?.write ?? ((t: string) => console.error(t.trimEnd()));
  // The first step compiles the kernels; the profile starts after it.
  const firstStep = opt.step;
  let profiled = 0;
  try {
    while (opt.step < total && !stop()) {
      if (o.profile && opt.step === firstStep + 1) startProfile();
      if (o.profile && opt.step > firstStep) profiled++;
      const lr = linearWarmupDecay(opt.step, o.lr, o.warmup ?? 0, total);
      const micro: Tensor[] = [];
      for (let k = 0; k < accumulate; k++) {
        const indices = sampler.next();
        micro.push(tidy(() => {
          const loss = o.loss(o.makeBatch(indices));
          backward(loss, full(loss.shape, 1 / accumulate));
          return keep(loss);
        }));
      }
      const norm = opt.update(lr);
      opt.zeroGrad();
      const step = opt.step;
      pending.push({ step, lr, micro, norm });
      const evalNow = !!o.evaluate &&
        ((!!o.evalEvery && step % o.evalEvery === 0) || step === total);
      const saveNow = (!!o.checkpointEvery && step % o.checkpointEvery === 0) || step === total;
      if (step % (o.logEvery ?? 1) === 0 || evalNow || saveNow || stop()) await drain();
      if (evalNow) {
        pauseProfile(true);
        const metrics = await o.evaluate!();
        pauseProfile(false);
        log.write({ event: "eval", step, ...metrics });
        await o.onEval?.(step, metrics);
        const key = o.bestMetric, value = key ? metrics[key] : undefined;
        if (key && value === undefined) {
          await save();
          throw new UserError(
            `the best-checkpoint metric "${key}" is not among the dev metrics (${
              Object.keys(metrics).join(", ")
            }); the checkpoint at step ${step} is saved: run again with --resume and ` +
              `--best-metric set to one of them`,
          );
        }
        const better = o.higherIsBetter ?? true;
        if (
          key && value !== undefined &&
          (!best || (better ? value > best.value : value < best.value))
        ) {
          best = { metric: key, value, step };
          await checkFinite();
          if (o.saveBest) await o.saveBest(bestDir);
          else await saveCheckpoint(bestDir, o.params, opt, state());
          log.write({ event: "best", step, [key]: value });
        }
        for (const line of table.lines(step, metrics, best)) bar.note(line);
      }
      if (saveNow) await save();
    }
    await drain();
    if (o.profile) {
      await sync();
      const p = await stopProfile();
      if (p) {
        write(profileTable(p, profiled) + "\n");
        log.write({ event: "profile", step: opt.step, steps: profiled, ...p });
      } else write("profile: no step after the first ran in this call, so nothing was profiled\n");
    }
    const interrupted = opt.step < total;
    if (interrupted) {
      if (saved !== opt.step) await save();
      const msg = `interrupted at step ${opt.step}/${total}; checkpoint saved to ${ckptDir}. ` +
        `Run the same command with --resume to continue.`;
      log.write({ event: "interrupted", step: opt.step, message: msg });
      bar.finish();
      write(msg + "\n");
    } else {
      bar.finish();
      log.write({ event: "done", step: opt.step, best });
    }
    return { step: opt.step, totalSteps: total, interrupted, losses, best };
  } finally {
    if (o.profile) await stopProfile().catch(() => null);
    for (const p of pending) for (const t of [...p.micro, p.norm]) t.dispose();
    unwatch();
    log.close();
    opt.dispose();
  }
}

// The flags every training command shares (batch, schedule, seed, evaluation and checkpoint
// cadence, --resume), declared and read in one place; each command adds its own around them.
import { DEFAULT_TOKENIZATION, type Tokenization, TOKENIZATIONS } from "../formats/tokenization.ts";
import type { RunSettings } from "../train/run.ts";
import {
  choiceOption,
  numberOption,
  type OptionSpec,
  stringOption as flag,
  UsageError,
  type Values,
} from "./options.ts";

/** Per-command defaults; one left out is the preset's, shown as "(preset)" in --help. */
export interface RunDefaults {
  batch?: number;
  lr?: number;
  epochs?: number;
  warmup?: number;
  weightDecay?: number;
}

/** `help.batch` and `help.seed` describe what a batch holds and what the seed drives. */
export function runFlags(
  d: RunDefaults,
  help: { batch?: string; seed?: string } = {},
): Record<string, OptionSpec> {
  const maybePreset = (text: string, v?: number) => v === undefined ? `${text} (preset)` : text;
  return {
    batch: flag("N", maybePreset(help.batch ?? "examples per optimizer step", d.batch), d.batch),
    accumulate: flag("K", "micro-batches per step (gradient accumulation)", 1),
    lr: flag("X", maybePreset("peak learning rate", d.lr), d.lr),
    epochs: flag("N", maybePreset("epochs over the training data", d.epochs), d.epochs),
    steps: flag("N", "optimizer steps (overrides --epochs)"),
    warmup: flag(
      "N",
      maybePreset("linear warmup steps, then linear decay to 0", d.warmup),
      d.warmup,
    ),
    "weight-decay": flag(
      "X",
      "AdamW decoupled weight decay (not on biases, LayerNorm)",
      d.weightDecay ?? 0,
    ),
    "max-grad-norm": flag("X", "clip the global gradient norm (0: off)", 1),
    seed: flag("N", help.seed ?? "seed of the weights, dropout and data order", 42),
    "eval-every": flag("N", "steps between dev evaluations (default: each epoch; always at end)"),
    "checkpoint-every": flag("N", "steps between checkpoints (always at the end and on Ctrl-C)"),
    "log-every": flag("N", "steps between loss readbacks and log lines", 10),
    resume: {
      type: "boolean",
      help: "continue the run in --out from its checkpoint (a larger --steps or --epochs " +
        "extends a finished run)",
    },
    overwrite: {
      type: "boolean",
      help: "delete the run already in --out (its checkpoints, log, curves and outputs; " +
        "other files stay) and start afresh",
    },
    "save-total-limit": flag(
      "N",
      "checkpoints to keep: besides checkpoint/ (the newest, which --resume reads), the " +
        "last N as checkpoint-<step>/ (hard links: the newest costs no extra disk); 1: " +
        "checkpoint/ alone",
      1,
    ),
    "best-metric": flag(
      "NAME",
      "the dev metric that picks best/ (default: the task's main one; names with loss or " +
        "perplexity are lower-is-better)",
    ),
    "report-to": flag(
      "none|tensorboard",
      "also log the losses, learning rate and dev metrics to TensorBoard event files in " +
        "OUT/tensorboard/ (tags as the Hugging Face Trainer's)",
      "none",
    ),
    report: {
      type: "boolean",
      help: "also write OUT/report.html: settings, dev metrics, curves, links to the outputs",
    },
    profile: {
      type: "boolean",
      help: "print the GPU time per step of each kernel family at the end (GPU timestamps " +
        "where the adapter has them; results unchanged)",
    },
  };
}

type Range = Parameters<typeof numberOption>[2];

/** Reads the shared flags; `preset` fills those the command leaves to a preset. */
export function readRunFlags(
  v: Values,
  preset: { batch?: number; lr?: number; epochs?: number; warmup?: number } = {},
): Omit<RunSettings, "out" | "progress" | "stop" | "say"> & { accumulate: number } {
  const optional = (name: string, o: Range) =>
    v[name] === undefined ? undefined : numberOption(v, name, o);
  const num = (name: string, fallback: number | undefined, o: Range = {}) => {
    const x = optional(name, o) ?? fallback;
    if (x === undefined) throw new UsageError(`--${name} is required`);
    return x;
  };
  const real = { integer: false };
  const s = {
    batch: num("batch", preset.batch, { min: 1 }),
    accumulate: num("accumulate", 1, { min: 1 }),
    lr: num("lr", preset.lr, { ...real, max: 1 }),
    epochs: num("epochs", preset.epochs, { min: 1 }),
    steps: optional("steps", { min: 1 }),
    warmup: num("warmup", preset.warmup),
    weightDecay: num("weight-decay", 0, real),
    maxGradNorm: num("max-grad-norm", 1, real),
    seed: num("seed", 42, { max: 2 ** 31 - 1 }),
    evalEvery: optional("eval-every", { min: 1 }),
    checkpointEvery: optional("checkpoint-every", { min: 1 }),
    logEvery: num("log-every", 10, { min: 1 }),
    resume: v.resume === true,
    overwrite: v.overwrite === true,
    saveTotalLimit: num("save-total-limit", 1, { min: 1 }),
    bestMetric: bestMetric(v),
    reportTo: reportTo(v),
    presetWarmup: v.warmup === undefined && preset.warmup !== undefined,
    report: v.report === true,
    profile: v.profile === true,
  };
  if (s.batch % s.accumulate !== 0) {
    throw new UsageError(`--batch ${s.batch} is not a multiple of --accumulate`);
  }
  return s;
}

function bestMetric(v: Values): string | undefined {
  const m = v["best-metric"];
  if (m === undefined) return undefined;
  if (typeof m !== "string" || !/^[A-Za-z0-9_@.-]+$/.test(m)) {
    throw new UsageError(`--best-metric needs a dev metric's name (e.g. micro_f1), got ${m}`);
  }
  return m;
}

function reportTo(v: Values): string[] {
  const list = String(v["report-to"] ?? "none").split(",").map((x) => x.trim());
  for (const x of list) {
    if (x !== "none" && x !== "tensorboard") {
      throw new UsageError(`--report-to takes none or tensorboard, got ${x}`);
    }
  }
  return list.filter((x) => x !== "none");
}

/** `--tokenization`, for every command that encodes task data. */
export const tokenizationFlag: Record<string, OptionSpec> = {
  tokenization: flag(
    "original|hf",
    "original: the ids the released code gives (a leading space on every segment's first " +
      "word, its markers and separators); hf: the modern tokenizer's (first word bare) and " +
      "kadapter's earlier layouts",
    DEFAULT_TOKENIZATION,
  ),
};

export function readTokenization(v: Values): Tokenization {
  return choiceOption(v, "tokenization", TOKENIZATIONS);
}

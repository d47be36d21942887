// kadapter finetune TASK / eval TASK / predict TASK: downstream fine-tuning with knowledge
// adapters (reference section 5), and metrics or JSON-lines predictions of a fine-tuned run.
// Presets hold the paper's settings (appendix C); any flag given overrides them.
import { allowNonFinite, allowNonFiniteFlag } from "./nonfinite_flag.ts";
import { initGpu } from "../gpu/device.ts";
import { writeTextAtomic } from "../formats/atomic.ts";
import type { FusionMode } from "../models/fusion.ts";
import { finetune, type FinetuneOptions } from "../runs/finetune.ts";
import { loadFinetuned } from "../tasks/finetuned.ts";
import { alteredText } from "../tasks/task.ts";
import { RunError } from "../train/run.ts";
import {
  choiceOption as choice,
  type Command,
  type CommandSpec,
  forceFlag,
  numberOption,
  optionalNumber as optional,
  type OptionSpec,
  parseAdapters,
  requiredOption,
  stringOption as s,
  UsageError,
} from "./options.ts";
import { reportRun } from "./run_summary.ts";
import { readRunFlags, readTokenization, runFlags, tokenizationFlag } from "./run_options.ts";

/** A dataset's settings. `steps`, when set, replaces epochs unless --epochs is given. */
export interface FinetunePreset {
  batch: number;
  lr: number;
  warmup: number;
  epochs: number;
  steps?: number;
  maxLength: number;
  /** Entity typing: FIGER's evaluation (argmax type always predicted). */
  figer?: boolean;
  /** Relation: the released --negative_sample (TaskSettings.maxNegatives). */
  maxNegatives?: number;
  /** Where the values come from, for --help. */
  source: string;
}

/**
 * Paper appendix C, the K-Adapter (F+L) settings (the F and L runs' best differ only in
 * warmup). OpenEntity gives no epoch count: the released script's max_steps 12000 is used.
 */
export const FINETUNE_PRESETS: Record<string, Record<string, FinetunePreset>> = {
  "entity-typing": {
    openentity: {
      batch: 4,
      lr: 5e-6,
      warmup: 1000,
      epochs: 3,
      steps: 12000,
      maxLength: 256,
      source: "paper C.1 (F+L); 12000 steps from the released script",
    },
    figer: {
      batch: 2048,
      lr: 5e-6,
      warmup: 1000,
      epochs: 3,
      maxLength: 256,
      figer: true,
      source: "paper C.1 (F+L)",
    },
  },
  relation: {
    tacred: {
      batch: 32,
      lr: 5e-6,
      warmup: 1000,
      epochs: 5,
      maxLength: 184,
      maxNegatives: 45000,
      source: "paper C.3 (F+L); max negatives from the released script",
    },
  },
  // A batch is examples (each of its choices a sequence).
  "multiple-choice": {
    cosmosqa: {
      batch: 64,
      lr: 1e-5,
      warmup: 0,
      epochs: 3,
      maxLength: 256,
      source: "paper C.2 (F+L)",
    },
  },
  // A batch is paragraph sequences, as the released code's.
  "span-qa": {
    searchqa: {
      batch: 8,
      lr: 5e-6,
      warmup: 0,
      epochs: 2,
      maxLength: 128,
      source: "paper C.2 (F+L)",
    },
    quasart: {
      batch: 16,
      lr: 1e-5,
      warmup: 0,
      epochs: 5,
      maxLength: 256,
      source: "paper C.2 (F+L)",
    },
  },
};

const show = (p: FinetunePreset) =>
  `batch ${p.batch}, lr ${p.lr}, warmup ${p.warmup}, ` +
  (p.steps ? `${p.steps} steps` : `${p.epochs} epochs`) + `, max length ${p.maxLength}` +
  (p.figer ? ", FIGER as released (--figer)" : "") +
  (p.maxNegatives ? `, max negatives ${p.maxNegatives}` : "") + ` (${p.source})`;

const flag = (help: string): OptionSpec => ({ type: "boolean", help });

function spec(task: string, presets: Record<string, FinetunePreset>): CommandSpec {
  const names = Object.keys(presets);
  const typing = task === "entity-typing";
  const options: Record<string, OptionSpec> = {
    model: s("DIR", "the encoder's model folder (config.json, weights, tokenizer)"),
    adapters: s(
      "NAME=DIR,..",
      "knowledge adapters in fusion order, e.g. fac=DIR,lin=DIR (none: plain RoBERTa)",
    ),
    ...forceFlag,
    fusion: s("concat|add", "how h_L and the adapter outputs combine", "concat"),
    "untrained-adapter": flag(
      "the 'w/o knowledge' ablation: the adapters get their folders' shape but fresh weights " +
        "(without --adapters: one adapter 'untrained' of train fac's default shape for this " +
        "encoder)",
    ),
    "freeze-encoder": flag("freeze the encoder (default: every encoder weight is trained)"),
    "train-adapters": flag("train the adapters too (default: frozen)"),
    recompute: flag(
      "recompute each encoder layer's activations in backward instead of keeping them: less " +
        "memory (larger batches fit) for about one more forward pass per step; the same " +
        "results up to rounding",
    ),
    train: s("PATH", `training data (${task} schema): Arrow file/stream or dataset folder`),
    dev: s("PATH", "dev data, evaluated periodically (best/ keeps the best)"),
    test: s("PATH", "test data, evaluated once at the end with the final weights"),
    "train-split": s("NAME", "split of a DatasetDict --train", "train"),
    "dev-split": s("NAME", "split of a DatasetDict --dev", "validation"),
    "test-split": s("NAME", "split of a DatasetDict --test", "test"),
    out: s("DIR", "run folder: metrics.jsonl, curves.svg, checkpoint/, best/, model/"),
    preset: s("NAME", names.join(" or "), names[0]),
    ...runFlags({}, { seed: "seed of new weights, dropout and data order" }),
    "max-length": s("N", "tokens per example with <s> and </s> (preset)"),
    ...tokenizationFlag,
    dropout: s("X", "dropout of the task head", "0.1"),
    ...(typing
      ? {
        figer: flag(
          "FIGER as released: always predict the argmax type; leave out rows of max length or " +
            "more tokens uncut, in every split, counted (preset)",
        ),
      }
      : {}),
    ...(task === "relation"
      ? {
        "max-negatives": s(
          "N",
          "keep the first N-1 no_relation training rows, as the released --negative_sample " +
            "N does; 0: all (preset)",
        ),
      }
      : {}),
    "eval-batch": s("N", "examples per evaluation batch", "32"),
    limit: s("N", "use the first N training rows"),
    "dev-limit": s("N", "use the first N dev rows"),
  };
  return {
    name: `finetune ${task}`,
    summary: `fine-tune RoBERTa with knowledge adapters on ${task}`,
    options,
    details: `Presets: ${names.map((n) => `${n}: ${show(presets[n])}`).join("; ")}.\n` +
      "Adapters are frozen and the encoder trained, as in the paper; concat fusion with k " +
      "adapters: Linear(2H->H) per adapter, then Linear(kH->H) for k >= 2; add: h_L + sum. " +
      "model/ (last weights) and best/ (best dev score) are self-contained fine-tuned models " +
      "(encoder/, adapters/, fusion and head weights, finetune_config.json with the labels) " +
      `for 'kadapter eval ${task}' and 'kadapter predict ${task}', which encode data with ` +
      "the tokenization recorded there; an adapter trained under another tokenization " +
      "warns, one trained on another vocabulary (or fac= holding a lin adapter) is refused " +
      "without --force. Ctrl-C saves a checkpoint and stops; run the same command with --resume to " +
      "continue exactly.",
  };
}

const ADAPTER_NAME = /^[A-Za-z0-9_]+$/;

/** `finetune TASK` for a registered task and its presets. */
export function finetuneCommand(task: string, presets: Record<string, FinetunePreset>): Command {
  return {
    spec: spec(task, presets),
    async run(v) {
      const preset = presets[choice(v, "preset", Object.keys(presets))];
      const num = (name: string, fallback: number, o: Parameters<typeof numberOption>[2] = {}) =>
        optional(v, name, o) ?? fallback;
      const adapters = parseAdapters(v);
      for (const a of adapters) {
        if (!ADAPTER_NAME.test(a.name)) {
          throw new UsageError(
            `--adapters: the name "${a.name}" must be letters, digits or '_' (it names ` +
              "the fusion layers)",
          );
        }
      }
      const steps = optional(v, "steps", { min: 1 }) ??
        (v.epochs === undefined ? preset.steps : undefined);
      const opts: FinetuneOptions = {
        task,
        settings: task === "entity-typing"
          ? { figer: v.figer === true || !!preset.figer }
          : task === "relation"
          ? { maxNegatives: num("max-negatives", preset.maxNegatives ?? 0, { min: 0 }) }
          : {},
        model: requiredOption(v, "model"),
        adapters,
        untrainedAdapter: v["untrained-adapter"] === true,
        fusion: choice(v, "fusion", ["concat", "add"] as const) as FusionMode,
        freezeEncoder: v["freeze-encoder"] === true,
        trainAdapters: v["train-adapters"] === true,
        recompute: v.recompute === true,
        train: requiredOption(v, "train"),
        dev: v.dev as string | undefined,
        test: v.test as string | undefined,
        trainSplit: v["train-split"] as string,
        devSplit: v["dev-split"] as string,
        testSplit: v["test-split"] as string,
        out: requiredOption(v, "out"),
        ...readRunFlags(v, preset),
        steps,
        maxLength: num("max-length", preset.maxLength, { min: 8 }),
        tokenization: readTokenization(v),
        headDropout: numberOption(v, "dropout", { max: 0.99, integer: false }),
        evalBatch: num("eval-batch", 32, { min: 1 }),
        limit: optional(v, "limit", { min: 1 }),
        devLimit: optional(v, "dev-limit", { min: 1 }),
        force: v.force === true,
      };
      await initGpu();
      const r = await finetune(opts);
      return reportRun(r, `fine-tuned model written to ${r.modelDir}`, opts.out);
    },
  };
}

function useSpec(task: string, what: "eval" | "predict"): CommandSpec {
  const options: Record<string, OptionSpec> = {
    run: s("DIR", "a fine-tuned model: a run folder (its model/), or its model/ or best/"),
    data: s("PATH", `data (${task} schema) with gold labels`),
    split: s("NAME", "split of a DatasetDict --data", "test"),
    batch: s("N", "examples per batch", "32"),
    limit: s("N", "use the first N rows"),
    out: s(
      "FILE",
      what === "eval"
        ? "also write the metrics there as JSON"
        : "JSON lines: one prediction per row with gold, predicted and logits",
    ),
    ...allowNonFiniteFlag,
  };
  return {
    name: `${what} ${task}`,
    summary: what === "eval"
      ? `metrics of a fine-tuned ${task} model on a split`
      : `predictions of a fine-tuned ${task} model as JSON lines`,
    options,
    details: "Rows are encoded with the model's label list and max length. Every row is " +
      "predicted: one without gold (converted from a file without labels) is left out of the " +
      "metrics, a gold label the model has not seen is scored as never predicted, and a " +
      "TACRED row whose marker was cut is read as the released code reads it; each such row " +
      "is counted and reported, as are rows that cannot be used (an entity-typing mention cut " +
      "away, FIGER's over-long rows).",
  };
}

/** `eval TASK` or `predict TASK`. */
export function useCommand(task: string, what: "eval" | "predict"): Command {
  return {
    spec: useSpec(task, what),
    async run(v) {
      const run = requiredOption(v, "run"), data = requiredOption(v, "data");
      const out = what === "predict" ? requiredOption(v, "out") : v.out as string | undefined;
      const batch = numberOption(v, "batch", { min: 1 });
      const limit = optional(v, "limit", { min: 1 });
      await initGpu();
      const model = await loadFinetuned(run, { allowNonFinite: allowNonFinite(v) });
      try {
        if (model.config.task !== task) {
          throw new RunError(
            `${run} was fine-tuned for ${model.config.task}; use 'kadapter ${what} ` +
              `${model.config.task}'`,
          );
        }
        const { split, output: r } = await model.score(
          data,
          { split: v.split as string, limit },
          batch,
        );
        const used = `${split.report.kept} of ${split.report.rows} rows`;
        const metrics = Object.entries(r.metrics).map(([k, x]) => `${k} ${x.toFixed(4)}`);
        console.log(`${data} (${used}): ${metrics.join(", ")}`);
        const skipped = split.report.rows - split.report.kept;
        if (skipped) {
          console.log(
            `${skipped} rows skipped: ` +
              [...split.report.skipped].map(([why, k]) => `${k} ${why}`).join(", "),
          );
        }
        const altered = alteredText(split.report);
        if (altered) console.log(altered);
        if (out && what === "eval") {
          await writeTextAtomic(out, JSON.stringify(r.metrics, null, 2) + "\n");
        } else if (out) {
          await writeTextAtomic(out, r.predictions.map((p) => JSON.stringify(p) + "\n").join(""));
          console.log(`${r.predictions.length} predictions written to ${out}`);
        }
        return 0;
      } finally {
        model.dispose();
      }
    },
  };
}

export const finetuneEntityTyping = finetuneCommand(
  "entity-typing",
  FINETUNE_PRESETS["entity-typing"],
);
export const finetuneRelation = finetuneCommand("relation", FINETUNE_PRESETS.relation);
export const evalEntityTyping = useCommand("entity-typing", "eval");
export const evalRelation = useCommand("relation", "eval");
export const predictEntityTyping = useCommand("entity-typing", "predict");
export const predictRelation = useCommand("relation", "predict");
export const finetuneMultipleChoice = finetuneCommand(
  "multiple-choice",
  FINETUNE_PRESETS["multiple-choice"],
);
export const finetuneSpanQa = finetuneCommand("span-qa", FINETUNE_PRESETS["span-qa"]);
export const evalMultipleChoice = useCommand("multiple-choice", "eval");
export const evalSpanQa = useCommand("span-qa", "eval");
export const predictMultipleChoice = useCommand("multiple-choice", "predict");
export const predictSpanQa = useCommand("span-qa", "predict");

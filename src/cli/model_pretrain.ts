// kadapter model pretrain: masked-LM pretraining of a whole RoBERTa model folder (encoder and
// lm_head) on a plain-text corpus, e.g. a `model init` model on a small world's sentences.
import { initGpu } from "../gpu/device.ts";
import { mlmPretrain } from "../tasks/mlm_pretrain.ts";
import {
  type Command,
  type CommandSpec,
  numberOption,
  type OptionSpec,
  requiredOption,
  UsageError,
  type Values,
} from "./options.ts";
import { reportRun } from "./run_summary.ts";

const s = (arg: string, help: string, def?: string): OptionSpec => ({
  type: "string",
  arg,
  help,
  ...(def !== undefined ? { default: def } : {}),
});

const spec: CommandSpec = {
  name: "model pretrain",
  summary: "masked-LM pretraining of a model folder (encoder + lm_head) on a text corpus",
  options: {
    model: s("DIR", "model folder with an lm_head (as `model init` writes), and its tokenizer"),
    corpus: s("PATH", "text-schema corpus: Arrow file/stream, save_to_disk folder or DatasetDict"),
    dev: s("PATH", "text-schema dev corpus, evaluated periodically (best/ keeps the best)"),
    "corpus-split": s("NAME", "split of a DatasetDict --corpus", "train"),
    "dev-split": s("NAME", "split of a DatasetDict --dev", "validation"),
    out: s("DIR", "run folder: metrics.jsonl, curves.svg, checkpoint/, model/, best/"),
    batch: s("N", "examples per optimizer step", "32"),
    accumulate: s("K", "micro-batches per step (gradient accumulation)", "1"),
    lr: s("X", "peak learning rate", "5e-4"),
    epochs: s("N", "epochs over the corpus", "1"),
    steps: s("N", "optimizer steps (overrides --epochs)"),
    warmup: s("N", "linear warmup steps, then linear decay to 0", "0"),
    "weight-decay": s("X", "AdamW decoupled weight decay (not on biases, LayerNorm)", "0.01"),
    "max-grad-norm": s("X", "clip the global gradient norm (0: off)", "1"),
    "max-length": s(
      "N",
      "tokens per line with <s> and </s>; longer lines are cut (default: " +
        "128, or the model's positions if fewer)",
    ),
    "mask-prob": s("X", "share of ordinary tokens masked and scored", "0.15"),
    seed: s("N", "seed of the masks, dropout and data order", "42"),
    "eval-every": s("N", "steps between dev evaluations (default: each epoch; always at end)"),
    "eval-batch": s("N", "examples per evaluation batch", "64"),
    "checkpoint-every": s("N", "steps between checkpoints (always at the end and on Ctrl-C)"),
    "log-every": s("N", "steps between loss readbacks and log lines", "10"),
    resume: { type: "boolean", help: "continue the run in --out from its checkpoint" },
  },
  details: "Trains every weight of the model, lm_head included, as RoBERTa pretrains: each " +
    "line is `<s> text </s>`; per batch, --mask-prob of the ordinary tokens are chosen (at " +
    "least one per line), 80% of them replaced by <mask>, 10% by a random token, 10% kept, " +
    "and the loss is the cross-entropy of the original tokens there. A batch's mask follows " +
    "from --seed and its examples, so --resume reproduces the masks exactly. Dev metrics: " +
    "mlm_loss, mlm_accuracy (original token ranked first) and perplexity over a fixed mask.\n" +
    "model/ (the last weights) and best/ (lowest dev mlm_loss) are complete model folders " +
    "(config.json, model.safetensors with the lm_head, the input's tokenizer files) for " +
    "`--model` of the other commands. Ctrl-C saves a checkpoint and stops (exit 130); run " +
    "the same command with --resume to continue exactly.\n" +
    "Example: kadapter model pretrain --model tiny --corpus data/world/corpus.arrow " +
    "--out runs/world --steps 2000 --warmup 100",
};

const optional = (v: Values, name: string, o: Parameters<typeof numberOption>[2] = {}) =>
  v[name] === undefined ? undefined : numberOption(v, name, o);

export const modelPretrain: Command = {
  spec,
  async run(v) {
    const real = { integer: false };
    const opts = {
      model: requiredOption(v, "model"),
      corpus: requiredOption(v, "corpus"),
      dev: v.dev as string | undefined,
      corpusSplit: v["corpus-split"] as string,
      devSplit: v["dev-split"] as string,
      out: requiredOption(v, "out"),
      batch: numberOption(v, "batch", { min: 1 }),
      accumulate: numberOption(v, "accumulate", { min: 1 }),
      lr: numberOption(v, "lr", { ...real, max: 1 }),
      epochs: numberOption(v, "epochs", { min: 1 }),
      steps: optional(v, "steps", { min: 1 }),
      warmup: numberOption(v, "warmup"),
      weightDecay: numberOption(v, "weight-decay", real),
      maxGradNorm: numberOption(v, "max-grad-norm", real),
      maxLength: optional(v, "max-length", { min: 3 }),
      maskProb: numberOption(v, "mask-prob", { ...real, max: 0.99 }),
      seed: numberOption(v, "seed"),
      evalEvery: optional(v, "eval-every", { min: 1 }),
      evalBatch: numberOption(v, "eval-batch", { min: 1 }),
      checkpointEvery: optional(v, "checkpoint-every", { min: 1 }),
      logEvery: numberOption(v, "log-every", { min: 1 }),
      resume: v.resume === true,
    };
    if (opts.batch % opts.accumulate !== 0) {
      throw new UsageError(`--batch ${opts.batch} is not a multiple of --accumulate`);
    }
    if (!(opts.maskProb > 0)) throw new UsageError(`--mask-prob must be above 0`);
    await initGpu();
    const r = await mlmPretrain(opts);
    return reportRun(r, `model written to ${r.modelDir}`, opts.out);
  },
};

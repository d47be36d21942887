// kadapter model pretrain: masked-LM pretraining of a whole RoBERTa model folder (encoder and
// lm_head) on a plain-text corpus, e.g. a `model init` model on a small world's sentences.
import { initGpu } from "../gpu/device.ts";
import { mlmPretrain } from "../runs/mlm_pretrain.ts";
import {
  type Command,
  type CommandSpec,
  numberOption,
  optionalNumber as optional,
  requiredOption,
  stringOption as s,
  UsageError,
} from "./options.ts";
import { reportRun } from "./run_summary.ts";
import { readRunFlags, runFlags } from "./run_options.ts";

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
    ...runFlags(
      { batch: 32, lr: 5e-4, epochs: 1, warmup: 0, weightDecay: 0.01 },
      { seed: "seed of the masks, dropout and data order" },
    ),
    "max-length": s(
      "N",
      "tokens per line with <s> and </s>; longer lines are cut (default: " +
        "128, or the model's positions if fewer)",
    ),
    "mask-prob": s("X", "share of ordinary tokens masked and scored", "0.15"),
    "eval-batch": s("N", "examples per evaluation batch", "64"),
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
      ...readRunFlags(v),
      maxLength: optional(v, "max-length", { min: 3 }),
      maskProb: numberOption(v, "mask-prob", { ...real, max: 0.99 }),
      evalBatch: numberOption(v, "eval-batch", { min: 1 }),
    };
    if (!(opts.maskProb > 0)) throw new UsageError(`--mask-prob must be above 0`);
    await initGpu();
    const r = await mlmPretrain(opts);
    return reportRun(r, `model written to ${r.modelDir}`, opts.out);
  },
};

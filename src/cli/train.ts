// kadapter train fac|lin: knowledge-infusion pretraining of one adapter on a frozen encoder.
// Presets hold the released code's and the paper's settings; any flag given overrides them.
import { initGpu } from "../gpu/device.ts";
import { infuse, type InfusionTask } from "../runs/infuse.ts";
import type { AdapterConfig } from "../models/adapter_config.ts";
import {
  choiceOption as choice,
  type Command,
  type CommandSpec,
  numberOption,
  optionalNumber as optional,
  type OptionSpec,
  requiredOption,
  stringOption as s,
  UsageError,
  type Values,
} from "./options.ts";
import { reportRun } from "./run_summary.ts";
import { readRunFlags, readTokenization, runFlags, tokenizationFlag } from "./run_options.ts";

interface Preset {
  batch: number;
  lr: number;
  warmup: number;
  epochs: number;
  maxLength: number;
  loss: "ce" | "bce";
}

/** Reference section 4. The code's scripts give no epoch count; the paper's is used. */
const PRESETS: Record<InfusionTask, Record<"code" | "paper", Preset>> = {
  fac: {
    code: { batch: 256, lr: 5e-5, warmup: 1200, epochs: 5, maxLength: 64, loss: "ce" },
    paper: { batch: 128, lr: 2e-5, warmup: 0, epochs: 5, maxLength: 64, loss: "ce" },
  },
  lin: {
    code: { batch: 128, lr: 2e-5, warmup: 500, epochs: 10, maxLength: 64, loss: "ce" },
    paper: { batch: 256, lr: 1e-5, warmup: 0, epochs: 10, maxLength: 128, loss: "bce" },
  },
};

const show = (task: InfusionTask, p: Preset) =>
  `batch ${p.batch}, lr ${p.lr}, warmup ${p.warmup}, ${p.epochs} epochs, max length ` +
  `${p.maxLength}` + (task === "lin" ? `, loss ${p.loss}` : "");

function spec(task: InfusionTask): CommandSpec {
  const what = task === "fac"
    ? "the factual adapter: relation classification on T-REx-rc (trex-rc schema)"
    : "the linguistic adapter: dependency head prediction (dependency schema)";
  const options: Record<string, OptionSpec> = {
    model: s("DIR", "the frozen encoder's model folder (config.json, weights, tokenizer)"),
    train: s("PATH", "training data: Arrow file/stream, save_to_disk folder or DatasetDict"),
    dev: s("PATH", "dev data, evaluated periodically (best/ keeps the best)"),
    "train-split": s("NAME", "split of a DatasetDict --train", "train"),
    "dev-split": s("NAME", "split of a DatasetDict --dev", "validation"),
    out: s("DIR", "run folder: metrics.jsonl, curves.svg, checkpoint/, best/, adapter/"),
    preset: s("NAME", "code (released scripts) or paper", "code"),
    ...runFlags({}),
    "max-length": s("N", "tokens per example with <s> and </s> (preset)"),
    ...tokenizationFlag,
    "adapter-list": s("I,J,..", "hidden states the adapter layers read (default: 0,L/2-1,L-2)"),
    "adapter-size": s(
      "N",
      "inner hidden size of the adapter layers (default: 768 as released, or the encoder's " +
        "hidden size when it is narrower)",
    ),
    "adapter-heads": s("N", "attention heads of the inner layers (default: size / 64, or 1)"),
    "adapter-ffn": s("N", "feed-forward size of the inner layers (default: 4 x size)"),
    "adapter-layers": s("N", "transformer layers per adapter layer", "2"),
    "adapter-mask": s(
      "all|padding",
      "all: attend to padding as the code does (every " +
        "example then padded to --max-length, as the code pads); padding: mask it (faster)",
      "all",
    ),
    combine: s("sum|concat", "adapter layer input: hidden state + previous output", "sum"),
    dropout: s("X", "dropout of the adapter and head", "0.1"),
    ...(task === "lin"
      ? { loss: s("ce|bce", "cross-entropy (code) or BCE with logits (paper) (preset)") }
      : {}),
    "eval-batch": s("N", "examples per evaluation batch", "64"),
    limit: s("N", "use the first N training rows"),
    "dev-limit": s("N", "use the first N dev rows"),
    name: s("NAME", `the adapter's name in adapter_config.json (default: ${task})`),
    f16: { type: "boolean", help: "run the frozen encoder in f16 (needs shader-f16)" },
    "cache-features": s(
      "off|memory|disk",
      "run the frozen encoder once per example before training and keep its states, in " +
        "memory or in --out/feature_cache/ (pays over more than one epoch)",
      "off",
    ),
    "cache-dtype": s("f16|f32", "how the cache stores the states (f16: half the size)", "f16"),
    "cache-limit": s(
      "MB",
      "largest memory cache (default: half the available memory, or 2000 when unknown)",
    ),
  };
  return {
    name: `train ${task}`,
    summary: `pretrain ${what.split(":")[0]}`,
    options,
    details: `Trains ${what}; the encoder stays frozen.\n` +
      `Presets: code: ${show(task, PRESETS[task].code)}; paper: ${
        show(task, PRESETS[task].paper)
      }.\n` +
      "Ctrl-C saves a checkpoint and stops; run the same command with --resume to continue " +
      "exactly. A NaN loss stops the run and keeps the last good checkpoint. adapter/ and " +
      "best/ are adapter folders: adapter_config.json + adapter.safetensors, with the " +
      "pretraining head as head_config.json + model_head.safetensors. The tokenization is " +
      "recorded in adapter_config.json; fine-tuning under another one warns.\n" +
      "--cache-features: the encoder is frozen and runs without dropout, so its states of an " +
      "example never change: they are computed once (train, and dev when evaluated more " +
      "than once) and read back every step; losses equal the uncached run's within f16 " +
      "rounding (f32: float rounding). The cache is rebuilt at every start, --resume too; " +
      "a resume may move it between memory and disk.",
  };
}

function adapterOptions(v: Values): Partial<AdapterConfig> {
  const n = (name: string) => numberOption(v, name, { min: 1 });
  const given = (name: string) => optional(v, name, { min: 1 });
  const over: Partial<AdapterConfig> = {
    ...(given("adapter-size") !== undefined ? { adapterHidden: given("adapter-size") } : {}),
    ...(given("adapter-heads") !== undefined ? { heads: given("adapter-heads") } : {}),
    ...(given("adapter-ffn") !== undefined ? { intermediate: given("adapter-ffn") } : {}),
    layers: n("adapter-layers"),
    mask: choice(v, "adapter-mask", ["all", "padding"] as const),
    combine: choice(v, "combine", ["sum", "concat"] as const),
    dropout: numberOption(v, "dropout", { max: 0.99, integer: false }),
  };
  if (over.adapterHidden && over.heads && over.adapterHidden % over.heads !== 0) {
    throw new UsageError(
      `--adapter-size ${over.adapterHidden} is not a multiple of --adapter-heads`,
    );
  }
  const list = v["adapter-list"];
  if (typeof list === "string") {
    over.adapterList = list.split(",").map((x) => {
      const i = Number(x.trim());
      if (x.trim() === "" || !Number.isInteger(i) || i < 0) {
        throw new UsageError(`--adapter-list needs hidden-state indices like 0,11,22, got ${list}`);
      }
      return i;
    });
  }
  return over;
}

function command(task: InfusionTask): Command {
  return {
    spec: spec(task),
    async run(v) {
      const preset = PRESETS[task][choice(v, "preset", ["code", "paper"] as const)];
      const num = (name: string, fallback: number, o: Parameters<typeof numberOption>[2] = {}) =>
        optional(v, name, o) ?? fallback;
      const opts = {
        task,
        model: requiredOption(v, "model"),
        train: requiredOption(v, "train"),
        dev: v.dev as string | undefined,
        trainSplit: v["train-split"] as string,
        devSplit: v["dev-split"] as string,
        out: requiredOption(v, "out"),
        ...readRunFlags(v, preset),
        maxLength: num("max-length", preset.maxLength, { min: 8 }),
        tokenization: readTokenization(v),
        adapter: adapterOptions(v),
        headDropout: numberOption(v, "dropout", { max: 0.99, integer: false }),
        loss: v.loss === undefined ? preset.loss : choice(v, "loss", ["ce", "bce"] as const),
        evalBatch: num("eval-batch", 64, { min: 1 }),
        limit: optional(v, "limit", { min: 1 }),
        devLimit: optional(v, "dev-limit", { min: 1 }),
        f16: v.f16 === true,
        name: v.name as string | undefined,
        cacheFeatures: choice(v, "cache-features", ["off", "memory", "disk"] as const),
        cacheDtype: choice(v, "cache-dtype", ["f16", "f32"] as const),
        cacheLimit: v["cache-limit"] === undefined
          ? undefined
          : numberOption(v, "cache-limit", { min: 1, integer: false }) * 1e6,
      };
      await initGpu();
      const r = await infuse(opts);
      return reportRun(r, `adapter written to ${r.adapterDir}`, opts.out);
    },
  };
}

export const trainFac = command("fac");
export const trainLin = command("lin");

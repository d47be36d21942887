// kadapter probe lama: LAMA probing of a model folder's own masked-LM head and, with --mlm,
// of the encoder (+ --adapters) through a trained MLM layer, side by side
// (src/runs/lama.ts). kadapter probe train-mlm: trains that MLM layer
// (src/runs/probe_mlm.ts). Here only their options are read.
import { allowNonFinite, allowNonFiniteFlag } from "./nonfinite_flag.ts";
import { join } from "node:path";
import { initGpu } from "../gpu/device.ts";
import { ENCODER, runLama, WITH_ADAPTERS, WITH_LAYER } from "../runs/lama.ts";
import { SKIP_UHN_NAME, UHN_TOP_K } from "../tasks/lama_uhn.ts";
import { trainProbeMlm } from "../runs/probe_mlm.ts";
import {
  type Command,
  forceFlag,
  numberOption,
  optionalNumber as optional,
  overwriteFlag,
  parseAdapters,
  refuseOverwrite,
  requiredOption,
  stringOption as s,
  UsageError,
  type Values,
} from "./options.ts";
import { reportRun } from "./run_summary.ts";
import { readRunFlags, runFlags } from "./run_options.ts";

export const probeLama: Command = {
  spec: {
    name: "probe lama",
    summary: "LAMA probing: P@1, P@10, MRR per relation (encoder alone and with adapters)",
    options: {
      model: {
        type: "string",
        arg: "DIR",
        help: "a model folder with its masked-LM head (lm_head.*) and tokenizer",
      },
      data: {
        type: "string",
        arg: "PATH",
        help: "LAMA queries, lama schema (e.g. from kadapter data convert --format lama-trex)",
      },
      adapters: {
        type: "string",
        arg: "NAME=DIR,...",
        help: "the adapters --mlm was trained with, in the order of training",
      },
      ...forceFlag,
      mlm: {
        type: "string",
        arg: "DIR",
        help: "also probe through this MLM layer of `kadapter probe train-mlm` (OUT/mlm)",
      },
      "common-vocab": {
        type: "string",
        arg: "FILE",
        help: "rank over these words only (one per line; LAMA's common_vocab_cased.txt)",
      },
      uhn: { type: "boolean", help: "LAMA-UHN: drop facts whose object is in the subject name" },
      "uhn-model": {
        type: "string",
        arg: "DIR",
        help:
          "with --uhn, also drop person-name facts this model (with lm_head) guesses from the name",
      },
      batch: { type: "string", arg: "N", default: "32", help: "queries per forward pass" },
      "top-k": { type: "string", arg: "N", default: "10", help: "predictions kept per query" },
      "max-length": {
        type: "string",
        arg: "N",
        help: "skip queries longer than N tokens with <s> and </s>; adapters with " +
          'adapter_mask "all" see every query padded to N (default: the --mlm layer\'s ' +
          "training length, else the model's limit)",
      },
      f16: { type: "boolean", help: "compute the encoder in f16 (needs shader-f16)" },
      out: {
        type: "string",
        arg: "DIR",
        help: "output folder: results.json and predictions.jsonl",
      },
      ...overwriteFlag,
      ...allowNonFiniteFlag,
    },
    details: "Only facts whose object is one token after a space are probed (and with " +
      "--common-vocab, one of its words); the rest are counted by reason. results.json holds " +
      "{model, data, common_vocab, uhn, skipped: {reason: count}, relations: {relation: " +
      "{n, p1, p10, mrr}}, macro, micro} (fractions; macro is the unweighted mean over " +
      "relations, LAMA's figure; MRR counts a gold object past rank 10,000 as 0, as LAMA " +
      "does); predictions.jsonl one line per query and model: model, " +
      "relation, sub, obj, source, text, rank, top [{token, id, score}] (logits).\n" +
      "With --adapters and --mlm, the same queries are also probed through the encoder + " +
      "adapters and the trained MLM layer (its input: cat(last hidden state, adapter " +
      'outputs)); the table shows both side by side and results.json gains "models": ' +
      `{"${ENCODER}": {relations, macro, micro}, "${WITH_ADAPTERS}": {...}}, the top-level ` +
      "relations/macro/micro staying the encoder's. A folder without lm_head is then probed " +
      "through the layer only (the top level is then that model's). --mlm without --adapters " +
      "takes a layer trained without adapters (the last hidden state alone), named " +
      `"${WITH_LAYER}".\n` +
      "LAMA-UHN (Poerner et al. 2020): --uhn drops facts whose object is a case-insensitive " +
      "substring of the subject. With --uhn-model DIR (a folder with lm_head, e.g. the same " +
      "model or a RoBERTa masked-LM checkpoint) the person-name filter also runs: for P19, P20, " +
      "P27, P103, P1412 and Google-RE place_of_birth/place_of_death, DIR's model is asked " +
      '"[X] is a common name in the following city|country|language: [MASK] ." with the ' +
      `subject's name, and the fact is dropped ("${SKIP_UHN_NAME}") when the object is among ` +
      `its top ${UHN_TOP_K} (over the same candidates as the probe). Without --uhn-model that ` +
      'filter is not applied, and is said so. results.json "uhn_filters": {string_match, ' +
      'person_name: "not applied (no --uhn-model)" or {model, top_k, checked, dropped}}.',
  },
  async run(values: Values) {
    const modelDir = requiredOption(values, "model");
    const data = requiredOption(values, "data");
    const out = requiredOption(values, "out");
    const batchSize = numberOption(values, "batch", { min: 1, max: 65536 });
    const k = numberOption(values, "top-k", { min: 0, max: 1000 });
    const vocabFile = typeof values["common-vocab"] === "string" ? values["common-vocab"] : null;
    const uhn = values.uhn === true;
    const uhnModelDir = typeof values["uhn-model"] === "string" && values["uhn-model"] !== ""
      ? values["uhn-model"]
      : null;
    if (uhnModelDir !== null && !uhn) {
      throw new UsageError(
        "--uhn-model goes with --uhn: it runs LAMA-UHN's person-name filter on top of the " +
          "string-match filter",
      );
    }
    const adapterArgs = parseAdapters(values);
    const mlmDir = typeof values.mlm === "string" && values.mlm !== "" ? values.mlm : null;
    if (adapterArgs.length > 0 && mlmDir === null) {
      throw new UsageError(
        "--adapters goes with --mlm: adapters are probed through the MLM layer trained with them",
      );
    }
    for (const file of ["results.json", "predictions.jsonl"]) {
      await refuseOverwrite(values, [join(out, file)], `${file} in --out ${out}`);
    }
    await runLama({
      model: modelDir,
      data,
      out,
      batchSize,
      topK: k,
      commonVocab: vocabFile,
      uhn,
      uhnModel: uhnModelDir,
      adapters: adapterArgs,
      mlm: mlmDir,
      maxLength: (limit) => optional(values, "max-length", { min: 3, max: limit }),
      f16: values.f16 === true,
      force: values.force === true,
      allowNonFinite: allowNonFinite(values),
    });
    return 0;
  },
};

export const probeTrainMlm: Command = {
  spec: {
    name: "probe train-mlm",
    summary: "train the linear MLM layer over the encoder (+ adapters) for LAMA probing",
    options: {
      model: s("DIR", "the frozen encoder's model folder (config.json, weights, tokenizer)"),
      adapters: s(
        "NAME=DIR,...",
        "the frozen adapter folders, in feature order (none: the encoder's last state alone)",
      ),
      ...forceFlag,
      corpus: s("PATH", "raw text (text schema: WikiText as `datasets` exports it)"),
      dev: s("PATH", "dev text: masked-token loss and accuracy (best/ keeps the lowest loss)"),
      split: s("NAME", "split of a DatasetDict --corpus", "train"),
      "dev-split": s("NAME", "split of a DatasetDict --dev", "validation"),
      out: s("DIR", "run folder: metrics.jsonl, curves.svg, checkpoint/, best/, mlm/"),
      ...runFlags(
        { batch: 32, lr: 1e-3, epochs: 2, warmup: 0 },
        {
          batch: "examples (lines) per optimizer step",
          seed: "seed of the layer's init, the data order and the masks",
        },
      ),
      "max-length": s("N", "truncate lines to N tokens with <s> and </s> (paper: 512)", "128"),
      "eval-batch": s("N", "examples per evaluation batch", "64"),
      limit: s("N", "use the first N corpus rows"),
      "dev-limit": s("N", "use the first N dev rows"),
      f16: { type: "boolean", help: "run the frozen encoder in f16 (needs shader-f16)" },
    },
    details: "K-Adapter has no masked-LM head, so LAMA probing trains a new one: a single " +
      "Linear((1 + k) * hidden -> vocab) over the final feature cat(encoder last hidden " +
      "state, adapter_1 output, ..., adapter_k output), in the order of --adapters; the " +
      "encoder and adapters stay frozen. Without --adapters (k = 0) the layer reads the last " +
      "hidden state alone: the encoder-alone baseline trained like the adapter model's " +
      "layer. Lines are masked as RoBERTa pretrains (15% of the ordinary tokens; 80% <mask>, " +
      "10% random, 10% kept), the loss is the cross-entropy at the chosen positions; empty " +
      "lines are skipped. Ctrl-C saves a checkpoint and stops; " +
      "the same command with --resume continues exactly (the masks are drawn from the seed " +
      "and the batch). mlm/ and best/ hold mlm_config.json + mlm.safetensors, for " +
      "`kadapter probe lama --adapters ... --mlm OUT/mlm` with the same adapters (or " +
      "`--mlm OUT/mlm` alone for k = 0).",
  },
  async run(v) {
    const num = (name: string, o: Parameters<typeof numberOption>[2] = {}) =>
      numberOption(v, name, o);
    const adapters = parseAdapters(v);
    const opts = {
      model: requiredOption(v, "model"),
      adapters,
      corpus: requiredOption(v, "corpus"),
      dev: v.dev as string | undefined,
      split: v.split as string,
      devSplit: v["dev-split"] as string,
      out: requiredOption(v, "out"),
      ...readRunFlags(v),
      maxLength: num("max-length", { min: 3 }),
      evalBatch: num("eval-batch", { min: 1 }),
      limit: optional(v, "limit", { min: 1 }),
      devLimit: optional(v, "dev-limit", { min: 1 }),
      f16: v.f16 === true,
      force: v.force === true,
    };
    await initGpu();
    const r = await trainProbeMlm(opts);
    return reportRun(r, `MLM layer written to ${r.mlmDir}`, opts.out);
  },
};

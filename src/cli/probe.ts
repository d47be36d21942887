// kadapter probe lama: LAMA probing of a model folder's own masked-LM head and, with --mlm,
// of the encoder (+ --adapters) through a trained MLM layer, side by side.
// P@1, P@10 and MRR per relation and macro-averaged over relations, every query's top-k in
// predictions.jsonl, and the facts left out counted by reason.
// kadapter probe train-mlm: trains that MLM layer (src/tasks/probe_mlm_layer.ts).
import { join } from "node:path";
import { initGpu } from "../gpu/device.ts";
import { writeTextAtomic } from "../formats/atomic.ts";
import { ModelFolderError } from "../formats/hf_config.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { type LamaQuery, planQueries, readLamaQueries, readWordList } from "../tasks/lama_data.ts";
import { commonVocab, type LamaScores } from "../tasks/lama_metrics.ts";
import {
  type MaskScorer,
  mlmScorer,
  predictionRecord,
  ProbeError,
  probeMlmLayerScorer,
  type ProbeReport,
  probeReport,
  type ProbeResult,
  probeScorer,
} from "../tasks/lama_probe.ts";
import {
  loadAdapters,
  loadProbeMlm,
  type NamedAdapter,
  type ProbeMlmLayer,
  trainProbeMlm,
} from "../tasks/probe_mlm_layer.ts";
import { mlmGuesser, personNameFilter, SKIP_UHN_NAME, UHN_TOP_K } from "../tasks/lama_uhn.ts";
import { Progress } from "../train/progress.ts";
import { parseAdapters } from "./encode.ts";
import {
  type Command,
  numberOption,
  optionalNumber as optional,
  requiredOption,
  stringOption as s,
  UsageError,
  type Values,
} from "./options.ts";
import { reportRun } from "./run_summary.ts";
import { readRunFlags, runFlags } from "./run_options.ts";

/** Loads the folder with its masked-LM head; a folder without one gets a clear error. */
async function loadWithHead(dir: string, f16: boolean): Promise<FrozenRoberta> {
  try {
    return await FrozenRoberta.fromFolder(dir, { f16, lmHead: true });
  } catch (e) {
    if (!(e instanceof ModelFolderError) || !e.problems.some((p) => p.includes("lm_head."))) {
      throw e;
    }
    throw new ModelFolderError(e.where, [
      ...e.problems,
      "probe lama scores with the model's own masked-LM head (lm_head.*), which this folder " +
      "lacks: use a masked-LM checkpoint (RobertaForMaskedLM) or a `kadapter model init` " +
      "folder, which have one",
    ]);
  }
}

const pct = (x: number) => (100 * x).toFixed(2);

/** The results table: relation, n, P@1, P@10, MRR (percent, MRR as a fraction), macro row. */
export function resultsTable(
  relations: Record<string, LamaScores & { n: number }>,
  macro: LamaScores,
  micro: LamaScores & { n: number },
): string {
  const rows = [
    ["relation", "n", "P@1", "P@10", "MRR"],
    ...Object.entries(relations).map(([r, s]) => [
      r,
      String(s.n),
      pct(s.p1),
      pct(s.p10),
      s.mrr.toFixed(4),
    ]),
    [
      "macro",
      String(Object.keys(relations).length) + " rel",
      pct(macro.p1),
      pct(macro.p10),
      macro.mrr.toFixed(4),
    ],
    ["micro", String(micro.n), pct(micro.p1), pct(micro.p10), micro.mrr.toFixed(4)],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")
  ).join("\n");
}

/** The side-by-side table: relation, n, then P@1, P@10, MRR of each model; macro and micro. */
export function comparisonTable(models: { name: string; report: ProbeReport }[]): string {
  const first = models[0].report;
  const cells = (s: LamaScores) => [pct(s.p1), pct(s.p10), s.mrr.toFixed(4)];
  const header2 = ["relation", "n", ...models.flatMap(() => ["P@1", "P@10", "MRR"])];
  const header1 = ["", "", ...models.flatMap((m) => [m.name, "", ""])];
  const rows = [
    header1,
    header2,
    ...Object.entries(first.relations).map(([r, s]) => [
      r,
      String(s.n),
      ...models.flatMap((m) => cells(m.report.relations[r])),
    ]),
    [
      "macro",
      String(Object.keys(first.relations).length) + " rel",
      ...models.flatMap((m) => cells(m.report.macro)),
    ],
    ["micro", String(first.micro.n), ...models.flatMap((m) => cells(m.report.micro))],
  ];
  const widths = header2.map((_, c) => Math.max(...rows.slice(1).map((r) => r[c].length)));
  // A model's name spans its three columns.
  const span = (c: number) => widths[c] + 2 + widths[c + 1] + 2 + widths[c + 2];
  const top = ["".padEnd(widths[0]), "".padStart(widths[1])];
  models.forEach((m, i) => top.push(m.name.padStart(span(2 + 3 * i))));
  return [
    top.join("  "),
    ...rows.slice(1).map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")
    ),
  ].join("\n");
}

/**
 * Model names in results.json's `models` and predictions.jsonl's `model`: the encoder's own
 * head, and the trained MLM layer over encoder + adapters or (no --adapters) the encoder alone.
 */
export const ENCODER = "encoder", WITH_ADAPTERS = "encoder+adapters", WITH_LAYER = "encoder+mlm";

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
        help: "skip queries longer than N tokens with <s> and </s> (default: the model's limit)",
      },
      f16: { type: "boolean", help: "compute the encoder in f16 (needs shader-f16)" },
      out: {
        type: "string",
        arg: "DIR",
        help: "output folder: results.json and predictions.jsonl",
      },
    },
    details: "Only facts whose object is one token after a space are probed (and with " +
      "--common-vocab, one of its words); the rest are counted by reason. results.json holds " +
      "{model, data, common_vocab, uhn, skipped: {reason: count}, relations: {relation: " +
      "{n, p1, p10, mrr}}, macro, micro} (fractions; macro is the unweighted mean over " +
      "relations, LAMA's figure); predictions.jsonl one line per query and model: model, " +
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
    const f16 = values.f16 === true;
    const tok = await RobertaTokenizer.fromFolder(modelDir);
    await initGpu();
    let model: FrozenRoberta, plain = true;
    if (mlmDir === null) model = await loadWithHead(modelDir, f16);
    else {
      try {
        model = await loadWithHead(modelDir, f16);
      } catch (e) {
        if (!(e instanceof ModelFolderError) || !e.problems.some((p) => p.includes("lm_head."))) {
          throw e;
        }
        model = await FrozenRoberta.fromFolder(modelDir, { f16, lmHead: false });
        plain = false;
        console.log(
          `${modelDir} has no masked-LM head (lm_head.*): probing only the ` +
            (adapterArgs.length > 0 ? "encoder + adapters" : "encoder through the MLM layer"),
        );
      }
    }
    let adapters: NamedAdapter[] = [];
    let layer: ProbeMlmLayer | null = null;
    try {
      const d = model.dims;
      if (tok.padId !== d.padId) {
        throw new ProbeError(
          `${modelDir}: the tokenizer pads with id ${tok.padId}, config.json's ` +
            `pad_token_id is ${d.padId}`,
        );
      }
      if (mlmDir !== null) {
        adapters = await loadAdapters(adapterArgs, model);
        layer = (await loadProbeMlm(mlmDir, d, adapters.map((a) => a.summary))).layer;
      }
      const limit = maxSequence(d);
      const maxLength = values["max-length"] === undefined
        ? Math.min(limit, tok.modelMaxLength ?? limit)
        : numberOption(values, "max-length", { min: 3, max: limit });
      let candidates: Int32Array | null = null;
      if (vocabFile !== null) {
        const cv = commonVocab(tok, await readWordList(vocabFile));
        if (cv.ids.length === 0) {
          throw new ProbeError(`${vocabFile}: none of its words is one token for this tokenizer`);
        }
        candidates = cv.ids;
        console.log(
          `common vocabulary: ${cv.ids.length} candidates` +
            (cv.rejected.length > 0 ? ` (${cv.rejected.length} words not one token left out)` : ""),
        );
      }
      const plan = await planQueries(readLamaQueries(data), tok, {
        uhn,
        commonVocab: candidates,
        maxLength,
      });
      const { skipped } = plan;
      let queries = plan.queries;
      let personName: string | Record<string, unknown> | null = null;
      if (uhn && uhnModelDir === null) {
        personName = "not applied (no --uhn-model)";
        console.log(
          "LAMA-UHN: string-match filter applied; person-name filter not applied (no --uhn-model)",
        );
      } else if (uhnModelDir !== null) {
        const r = await uhnNameFilter(uhnModelDir, f16, {
          queries,
          vocabWords: vocabFile === null ? null : await readWordList(vocabFile),
          batchSize,
          model: plain && uhnModelDir === modelDir ? { model, tok } : null,
        });
        queries = r.queries;
        if (r.dropped > 0) skipped.set(SKIP_UHN_NAME, r.dropped);
        personName = {
          model: uhnModelDir,
          top_k: UHN_TOP_K,
          checked: r.checked,
          dropped: r.dropped,
        };
        console.log(
          `LAMA-UHN person-name filter (${uhnModelDir}, top ${UHN_TOP_K}): ` +
            `${r.checked} person-name facts checked, ${r.dropped} dropped`,
        );
      }
      const nSkipped = [...skipped.values()].reduce((a, b) => a + b, 0);
      if (queries.length === 0) {
        const why = [...skipped].map(([r, n]) => `${n} ${r}`).join(", ");
        throw new ProbeError(
          `${data}: no fact can be probed with this model (${why}). LAMA scores single-token ` +
            "objects only: use a tokenizer whose vocabulary holds the objects as tokens.",
        );
      }
      console.log(`${queries.length} queries (${nSkipped} facts skipped)`);
      const scorers: { name: string; scorer: MaskScorer }[] = [];
      if (plain) scorers.push({ name: ENCODER, scorer: mlmScorer(model) });
      if (layer) {
        scorers.push({
          name: adapters.length > 0 ? WITH_ADAPTERS : WITH_LAYER,
          scorer: probeMlmLayerScorer(model, adapters.map((a) => a.adapter), layer),
        });
      }
      const probed: { name: string; result: ProbeResult; report: ProbeReport }[] = [];
      for (const { name, scorer } of scorers) {
        const bar = new Progress(queries.length, {
          label: scorers.length > 1 ? `probe ${name}` : "probe",
        });
        let result;
        try {
          result = await probeScorer(scorer, d.padId, queries, {
            batchSize,
            candidates,
            topK: k,
            onBatch: (n) => bar.tick(n),
          });
        } finally {
          bar.finish();
        }
        probed.push({ name, result, report: probeReport(queries, result.ranks) });
      }
      const main = probed[0].report;
      const results = {
        model: modelDir,
        ...(mlmDir === null ? {} : {
          adapters: Object.fromEntries(adapterArgs.map((a) => [a.name, a.dir])),
          mlm: mlmDir,
        }),
        data,
        common_vocab: vocabFile,
        uhn,
        ...(uhn ? { uhn_filters: { string_match: true, person_name: personName } } : {}),
        candidates: candidates?.length ?? d.vocab,
        compute_dtype: model.dtype,
        skipped: Object.fromEntries(skipped),
        ...main,
        ...(mlmDir === null
          ? {}
          : { models: Object.fromEntries(probed.map((p) => [p.name, p.report])) }),
      };
      await Deno.mkdir(out, { recursive: true });
      const lines = probed.flatMap((p) =>
        queries.map((q, i) =>
          JSON.stringify({
            model: p.name,
            ...predictionRecord(tok, q, p.result.ranks[i], p.result.top[i]),
          }) + "\n"
        )
      );
      await writeTextAtomic(join(out, "predictions.jsonl"), lines.join(""));
      await writeTextAtomic(join(out, "results.json"), JSON.stringify(results, null, 2) + "\n");
      console.log(
        mlmDir === null
          ? resultsTable(main.relations, main.macro, main.micro)
          : comparisonTable(probed.map((p) => ({ name: p.name, report: p.report }))),
      );
      if (skipped.size > 0) {
        console.log("skipped:");
        for (const [reason, n] of skipped) console.log(`  ${reason}: ${n}`);
      }
      console.log(`wrote ${join(out, "results.json")} and ${join(out, "predictions.jsonl")}`);
      return 0;
    } finally {
      layer?.dispose();
      adapters.forEach((a) => a.adapter.dispose());
      model.dispose();
    }
  },
};

/**
 * Runs LAMA-UHN's person-name filter with the model in `dir` (or the probe's own model when it
 * is the same folder): candidates are the common vocabulary in that model's tokenizer.
 */
async function uhnNameFilter(
  dir: string,
  f16: boolean,
  { queries, vocabWords, batchSize, model }: {
    queries: LamaQuery[];
    vocabWords: string[] | null;
    batchSize: number;
    model: { model: FrozenRoberta; tok: RobertaTokenizer } | null;
  },
) {
  const tok = model?.tok ?? await RobertaTokenizer.fromFolder(dir);
  const m = model?.model ?? await loadWithHead(dir, f16);
  try {
    if (tok.padId !== m.dims.padId) {
      throw new ProbeError(
        `${dir}: the tokenizer pads with id ${tok.padId}, config.json's pad_token_id is ` +
          `${m.dims.padId}`,
      );
    }
    const candidates = vocabWords === null ? null : commonVocab(tok, vocabWords).ids;
    const limit = maxSequence(m.dims);
    return await personNameFilter(queries, mlmGuesser(m, tok), {
      candidates,
      batchSize,
      maxLength: Math.min(limit, tok.modelMaxLength ?? limit),
    });
  } finally {
    if (model === null) m.dispose();
  }
}

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
    };
    await initGpu();
    const r = await trainProbeMlm(opts);
    return reportRun(
      r,
      `MLM layer written to ${r.mlmDir}`,
      opts.out,
      v,
      "kadapter probe train-mlm",
    );
  },
};

// `kadapter probe lama`: LAMA probing of a model folder's own masked-LM head and, with an MLM
// layer, of the encoder (+ adapters) through that layer, side by side on the same queries.
// Writes results.json (P@1, P@10 and MRR per relation, macro and micro; the facts left out
// counted by reason; the LAMA-UHN filters applied) and predictions.jsonl (every query's top-k
// per model), and prints the table.
import { join } from "node:path";
import { writeTextAtomic } from "../formats/atomic.ts";
import { ModelFolderError } from "../formats/hf_config.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { initGpu } from "../gpu/device.ts";
import { baseModelInfo } from "../models/encoder_identity.ts";
import { checkTokenizer } from "../models/fit.ts";
import { loadAdapters, type NamedAdapter } from "../models/named_adapters.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { Progress } from "../train/progress.ts";
import { type LamaQuery, planQueries, readLamaQueries, readWordList } from "../tasks/lama_data.ts";
import { commonVocab } from "../tasks/lama_metrics.ts";
import {
  type MaskScorer,
  mlmScorer,
  predictionRecord,
  probeMlmLayerScorer,
  type ProbeReport,
  probeReport,
  type ProbeResult,
  probeScorer,
} from "../tasks/lama_probe.ts";
import { comparisonTable, resultsTable } from "../tasks/lama_tables.ts";
import { mlmGuesser, personNameFilter, SKIP_UHN_NAME, UHN_TOP_K } from "../tasks/lama_uhn.ts";
import { ProbeError } from "../tasks/probe_error.ts";
import { loadProbeMlm } from "../tasks/probe_mlm_folder.ts";
import type { ProbeMlmLayer } from "../tasks/probe_mlm_layer.ts";

/**
 * Model names in results.json's `models` and predictions.jsonl's `model`: the encoder's own
 * head, and the trained MLM layer over encoder + adapters or (no adapters) the encoder alone.
 */
export const ENCODER = "encoder", WITH_ADAPTERS = "encoder+adapters", WITH_LAYER = "encoder+mlm";

export interface LamaRunOptions {
  /** Model folder: tokenizer, encoder and (for its own probe) the masked-LM head. */
  model: string;
  /** LAMA queries (lama schema). */
  data: string;
  /** Output folder: results.json and predictions.jsonl. */
  out: string;
  /** Queries per forward pass. */
  batchSize: number;
  /** Predictions kept per query. */
  topK: number;
  /** A word list to rank over (LAMA's common vocabulary); null: the whole vocabulary. */
  commonVocab: string | null;
  /** LAMA-UHN's string-match filter. */
  uhn: boolean;
  /** With uhn: the model folder of the person-name filter; null: that filter is not applied. */
  uhnModel: string | null;
  /** The adapters the MLM layer was trained with, in order (only with mlm). */
  adapters: { name: string; dir: string }[];
  /** An MLM layer folder of `probe train-mlm`, also probed; null: the model's own head only. */
  mlm: string | null;
  /** Query length limit in tokens, given the model's; undefined: min(tokenizer's, model's). */
  maxLength: (limit: number) => number | undefined;
  f16: boolean;
  /** --force: use adapters trained on another vocabulary or of another kind, with a warning. */
  force?: boolean;
  /** --allow-nonfinite: load models holding NaN/Inf weights, with a warning. */
  allowNonFinite?: boolean;
}

const lacksHead = (e: unknown): e is ModelFolderError =>
  e instanceof ModelFolderError &&
  e.problems.some((p) => p.includes("lm_head.") && !p.includes("NaN/Inf"));

/** Loads the folder with its masked-LM head; a folder without one gets a clear error. */
async function loadWithHead(
  dir: string,
  f16: boolean,
  allowNonFinite?: boolean,
): Promise<FrozenRoberta> {
  try {
    return await FrozenRoberta.fromFolder(dir, { f16, lmHead: true, allowNonFinite });
  } catch (e) {
    if (!lacksHead(e)) throw e;
    throw new ModelFolderError(e.where, [
      ...e.problems,
      "probe lama scores with the model's own masked-LM head (lm_head.*), which this folder " +
      "lacks: use a masked-LM checkpoint (RobertaForMaskedLM) or a `kadapter model init` " +
      "folder, which have one",
    ]);
  }
}

/**
 * The encoder with its head (`plain`: its own head is probed); with an MLM layer to probe, a
 * folder without a head is loaded without one and probed through the layer only.
 */
async function loadEncoder(o: LamaRunOptions): Promise<{ model: FrozenRoberta; plain: boolean }> {
  try {
    return { model: await loadWithHead(o.model, o.f16, o.allowNonFinite), plain: true };
  } catch (e) {
    if (o.mlm === null || !lacksHead(e)) throw e;
    const model = await FrozenRoberta.fromFolder(o.model, {
      f16: o.f16,
      lmHead: false,
      allowNonFinite: o.allowNonFinite,
    });
    console.log(
      `${o.model} has no masked-LM head (lm_head.*): probing only the ` +
        (o.adapters.length > 0 ? "encoder + adapters" : "encoder through the MLM layer"),
    );
    return { model, plain: false };
  }
}

/**
 * Runs LAMA-UHN's person-name filter with the model in `dir` (or the probe's own model when it
 * is the same folder): candidates are the common vocabulary in that model's tokenizer.
 */
async function uhnNameFilter(
  dir: string,
  f16: boolean,
  { queries, vocabWords, batchSize, model, allowNonFinite }: {
    queries: LamaQuery[];
    vocabWords: string[] | null;
    batchSize: number;
    model: { model: FrozenRoberta; tok: RobertaTokenizer } | null;
    allowNonFinite?: boolean;
  },
) {
  const tok = model?.tok ?? await RobertaTokenizer.fromFolder(dir);
  const m = model?.model ?? await loadWithHead(dir, f16, allowNonFinite);
  try {
    checkTokenizer(tok, m.dims, dir);
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

interface Probed {
  name: string;
  result: ProbeResult;
  report: ProbeReport;
}

/** Probes the queries with each scorer in turn, each with its progress bar. */
async function probeAll(
  scorers: { name: string; scorer: MaskScorer }[],
  padId: number,
  queries: LamaQuery[],
  opts: { batchSize: number; candidates: Int32Array | null; topK: number },
): Promise<Probed[]> {
  const probed: Probed[] = [];
  for (const { name, scorer } of scorers) {
    const bar = new Progress(queries.length, {
      label: scorers.length > 1 ? `probe ${name}` : "probe",
    });
    let result;
    try {
      result = await probeScorer(scorer, padId, queries, {
        ...opts,
        onBatch: (n) => bar.tick(n),
      });
    } finally {
      bar.finish();
    }
    probed.push({ name, result, report: probeReport(queries, result.ranks) });
  }
  return probed;
}

/** Probes `o.data` as `kadapter probe lama` does, writing and printing its results. */
export async function runLama(o: LamaRunOptions): Promise<void> {
  const tok = await RobertaTokenizer.fromFolder(o.model);
  // The tokenizer first: a folder without one is reported before the GPU starts.
  await initGpu();
  const { model, plain } = await loadEncoder(o);
  let adapters: NamedAdapter[] = [];
  let layer: ProbeMlmLayer | null = null;
  // The MLM layer's training length: queries are cut to it by default and mask-"all"
  // adapters see each query padded to the probe's length (released_layout.ts).
  let trainedLength: number | undefined;
  try {
    const d = model.dims;
    checkTokenizer(tok, d, o.model);
    if (o.mlm !== null) {
      adapters = await loadAdapters(o.adapters, model, {
        base: baseModelInfo(d, tok),
        force: o.force,
        say: (line) => console.log(line),
      }, { allowNonFinite: o.allowNonFinite });
      const probe = await loadProbeMlm(o.mlm, d, adapters.map((a) => a.summary));
      layer = probe.layer;
      const t = probe.meta.training?.maxLength;
      if (typeof t === "number" && Number.isInteger(t) && t >= 3) trainedLength = t;
    }
    const limit = maxSequence(d);
    const maxLength = o.maxLength(limit) ??
      Math.min(trainedLength ?? limit, limit, tok.modelMaxLength ?? limit);
    const vocabWords = o.commonVocab === null ? null : await readWordList(o.commonVocab);
    let candidates: Int32Array | null = null;
    if (vocabWords !== null) {
      const cv = commonVocab(tok, vocabWords);
      if (cv.ids.length === 0) {
        throw new ProbeError(
          `${o.commonVocab}: none of its words is one token for this tokenizer`,
        );
      }
      candidates = cv.ids;
      console.log(
        `common vocabulary: ${cv.ids.length} candidates` +
          (cv.rejected.length > 0 ? ` (${cv.rejected.length} words not one token left out)` : ""),
      );
    }
    const plan = await planQueries(readLamaQueries(o.data), tok, {
      uhn: o.uhn,
      commonVocab: candidates,
      maxLength,
    });
    const { skipped } = plan;
    let queries = plan.queries;
    let personName: string | Record<string, unknown> | null = null;
    if (o.uhn && o.uhnModel === null) {
      personName = "not applied (no --uhn-model)";
      console.log(
        "LAMA-UHN: string-match filter applied; person-name filter not applied (no --uhn-model)",
      );
    } else if (o.uhnModel !== null) {
      const r = await uhnNameFilter(o.uhnModel, o.f16, {
        allowNonFinite: o.allowNonFinite,
        queries,
        vocabWords,
        batchSize: o.batchSize,
        model: plain && o.uhnModel === o.model ? { model, tok } : null,
      });
      queries = r.queries;
      if (r.dropped > 0) skipped.set(SKIP_UHN_NAME, r.dropped);
      personName = { model: o.uhnModel, top_k: UHN_TOP_K, checked: r.checked, dropped: r.dropped };
      console.log(
        `LAMA-UHN person-name filter (${o.uhnModel}, top ${UHN_TOP_K}): ` +
          `${r.checked} person-name facts checked, ${r.dropped} dropped`,
      );
    }
    const nSkipped = [...skipped.values()].reduce((a, b) => a + b, 0);
    if (queries.length === 0) {
      const why = [...skipped].map(([r, n]) => `${n} ${r}`).join(", ");
      throw new ProbeError(
        `${o.data}: no fact can be probed with this model (${why}). LAMA scores single-token ` +
          "objects only: use a tokenizer whose vocabulary holds the objects as tokens.",
      );
    }
    console.log(`${queries.length} queries (${nSkipped} facts skipped)`);
    const scorers: { name: string; scorer: MaskScorer }[] = [];
    if (plain) scorers.push({ name: ENCODER, scorer: mlmScorer(model) });
    if (layer) {
      scorers.push({
        name: adapters.length > 0 ? WITH_ADAPTERS : WITH_LAYER,
        scorer: probeMlmLayerScorer(model, adapters.map((a) => a.adapter), layer, maxLength),
      });
    }
    const probed = await probeAll(scorers, d.padId, queries, {
      batchSize: o.batchSize,
      candidates,
      topK: o.topK,
    });
    const main = probed[0].report;
    const results = {
      model: o.model,
      ...(o.mlm === null ? {} : {
        adapters: Object.fromEntries(o.adapters.map((a) => [a.name, a.dir])),
        mlm: o.mlm,
      }),
      data: o.data,
      common_vocab: o.commonVocab,
      uhn: o.uhn,
      ...(o.uhn ? { uhn_filters: { string_match: true, person_name: personName } } : {}),
      candidates: candidates?.length ?? d.vocab,
      compute_dtype: model.dtype,
      skipped: Object.fromEntries(skipped),
      ...main,
      ...(o.mlm === null
        ? {}
        : { models: Object.fromEntries(probed.map((p) => [p.name, p.report])) }),
    };
    await Deno.mkdir(o.out, { recursive: true });
    const lines = probed.flatMap((p) =>
      queries.map((q, i) =>
        JSON.stringify({
          model: p.name,
          ...predictionRecord(tok, q, p.result.ranks[i], p.result.top[i]),
        }) + "\n"
      )
    );
    await writeTextAtomic(join(o.out, "predictions.jsonl"), lines.join(""));
    await writeTextAtomic(join(o.out, "results.json"), JSON.stringify(results, null, 2) + "\n");
    console.log(
      o.mlm === null
        ? resultsTable(main.relations, main.macro, main.micro)
        : comparisonTable(probed.map((p) => ({ name: p.name, report: p.report }))),
    );
    if (skipped.size > 0) {
      console.log("skipped:");
      for (const [reason, n] of skipped) console.log(`  ${reason}: ${n}`);
    }
    console.log(`wrote ${join(o.out, "results.json")} and ${join(o.out, "predictions.jsonl")}`);
  } finally {
    layer?.dispose();
    adapters.forEach((a) => a.adapter.dispose());
    model.dispose();
  }
}

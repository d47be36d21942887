// kadapter probe lama: LAMA probing of a model folder's own masked-LM head. P@1, P@10 and MRR
// per relation and macro-averaged over relations, every query's top-k in predictions.jsonl,
// and the facts left out counted by reason.
import { join } from "node:path";
import { initGpu } from "../gpu/device.ts";
import { writeTextAtomic } from "../formats/atomic.ts";
import { ModelFolderError } from "../formats/hf_config.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { planQueries, readLamaQueries, readWordList } from "../tasks/lama_data.ts";
import { commonVocab, type LamaScores } from "../tasks/lama_metrics.ts";
import { predictionRecord, ProbeError, probeMlm, probeReport } from "../tasks/lama_probe.ts";
import { Progress } from "../train/progress.ts";
import { type Command, numberOption, requiredOption, type Values } from "./options.ts";

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

export const probeLama: Command = {
  spec: {
    name: "probe lama",
    summary: "LAMA probing of a model's masked-LM head: P@1, P@10, MRR per relation",
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
      "common-vocab": {
        type: "string",
        arg: "FILE",
        help: "rank over these words only (one per line; LAMA's common_vocab_cased.txt)",
      },
      uhn: { type: "boolean", help: "LAMA-UHN: drop facts whose object is in the subject name" },
      batch: { type: "string", arg: "N", default: "32", help: "queries per forward pass" },
      "top-k": { type: "string", arg: "N", default: "10", help: "predictions kept per query" },
      "max-length": {
        type: "string",
        arg: "N",
        help: "skip queries longer than N tokens with <s> and </s> (default: the model's limit)",
      },
      f16: { type: "boolean", help: "compute in f16 (needs shader-f16)" },
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
      "relations, LAMA's figure); predictions.jsonl one line per query: relation, sub, obj, " +
      "source, text, rank, top [{token, id, score}] (logits).",
  },
  async run(values: Values) {
    const modelDir = requiredOption(values, "model");
    const data = requiredOption(values, "data");
    const out = requiredOption(values, "out");
    const batchSize = numberOption(values, "batch", { min: 1, max: 65536 });
    const k = numberOption(values, "top-k", { min: 0, max: 1000 });
    const vocabFile = typeof values["common-vocab"] === "string" ? values["common-vocab"] : null;
    const uhn = values.uhn === true;
    const tok = await RobertaTokenizer.fromFolder(modelDir);
    await initGpu();
    const model = await loadWithHead(modelDir, values.f16 === true);
    try {
      const d = model.dims;
      if (tok.padId !== d.padId) {
        throw new ProbeError(
          `${modelDir}: the tokenizer pads with id ${tok.padId}, config.json's ` +
            `pad_token_id is ${d.padId}`,
        );
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
      const { queries, skipped } = plan;
      const nSkipped = [...skipped.values()].reduce((a, b) => a + b, 0);
      if (queries.length === 0) {
        const why = [...skipped].map(([r, n]) => `${n} ${r}`).join(", ");
        throw new ProbeError(
          `${data}: no fact can be probed with this model (${why}). LAMA scores single-token ` +
            "objects only: use a tokenizer whose vocabulary holds the objects as tokens.",
        );
      }
      console.log(`${queries.length} queries (${nSkipped} facts skipped)`);
      const bar = new Progress(queries.length, { label: "probe" });
      let result;
      try {
        result = await probeMlm(model, queries, {
          batchSize,
          candidates,
          topK: k,
          onBatch: (n) => bar.tick(n),
        });
      } finally {
        bar.finish();
      }
      const report = probeReport(queries, result.ranks);
      const results = {
        model: modelDir,
        data,
        common_vocab: vocabFile,
        uhn,
        candidates: candidates?.length ?? d.vocab,
        compute_dtype: model.dtype,
        skipped: Object.fromEntries(skipped),
        ...report,
      };
      await Deno.mkdir(out, { recursive: true });
      const lines = queries.map((q, i) =>
        JSON.stringify(predictionRecord(tok, q, result.ranks[i], result.top[i])) + "\n"
      );
      await writeTextAtomic(join(out, "predictions.jsonl"), lines.join(""));
      await writeTextAtomic(join(out, "results.json"), JSON.stringify(results, null, 2) + "\n");
      console.log(resultsTable(report.relations, report.macro, report.micro));
      if (skipped.size > 0) {
        console.log("skipped:");
        for (const [reason, n] of skipped) console.log(`  ${reason}: ${n}`);
      }
      console.log(`wrote ${join(out, "results.json")} and ${join(out, "predictions.jsonl")}`);
      return 0;
    } finally {
      model.dispose();
    }
  },
};

// LAMA probing with a tiny random model that has a masked-LM head: batched, padded,
// mask-rows-only scoring gives the same ranks and top-k as the full forward of each query
// alone ranked on the host; candidate restriction; `probe lama` end to end on the world's
// facts (results.json, predictions.jsonl, macro = mean of relations, skip counts) and a clear
// error for a folder without lm_head.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import type { LamaRow } from "../../src/formats/schemas.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { planQueries, readLamaQueries, SKIP } from "../../src/tasks/lama_data.ts";
import { probeMlm, probeReport, topK } from "../../src/tasks/lama_probe.ts";
import { ProbeError } from "../../src/tasks/probe_error.ts";
import { probeLama } from "../../src/cli/probe.ts";
import { cast, tidy } from "../../src/tensor/mod.ts";
import { test } from "../setup.ts";

const root = await Deno.makeTempDir({ prefix: "kadapter_lama_probe_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const modelDir = join(root, "tiny"), noHeadDir = join(root, "nohead");
for (const [dir, lmHead] of [[modelDir, true], [noHeadDir, false]] as const) {
  // The model with a head gets GPT-2's whole BPE, so that some of the world's objects (eleven)
  // are single tokens; with few merges none is.
  const merges = lmHead ? 50000 : 2000;
  const vocab = await writeRobertaTokenizer(dir, { merges, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 5, { lmHead });
  await m.save(dir);
  m.dispose();
}
const tok = await RobertaTokenizer.fromFolder(modelDir);

const WORLD = new URL("../../data/world/", import.meta.url).pathname;
const lamaFile = join(root, "world_lama.arrow");
const converted = await convert("lama-trex", join(WORLD, "facts.jsonl"), lamaFile, {
  relations: join(WORLD, "relations.jsonl"),
});

/** Queries of mixed lengths whose objects are single tokens for the tiny tokenizer. */
function rows(): LamaRow[] {
  const objs = ["the", "a", "of", "in", "and", "to", "is", "was"].filter((o) =>
    tok.encodeText(" " + o).length === 1
  );
  assert.ok(objs.length >= 4, `single-token objects: ${objs}`);
  const sentences = [
    "[MASK] .",
    "It is [MASK] .",
    "The capital of the country is [MASK] and it was founded long ago by people .",
    "[MASK] was born in a small town near the river , where many people lived .",
    "She went to [MASK] .",
    "A very long sentence with many words that goes on and on before the [MASK] appears here .",
    "X [MASK] Y",
  ];
  return sentences.map((s, i) => ({
    relation: `R${i % 3}`,
    sub_label: `sub${i}`,
    obj_label: objs[i % objs.length],
    masked_sentence: s,
    source: "test",
  }));
}

/** Host reference: each query alone, unpadded, full logits; rank and sort on the host. */
async function reference(model: FrozenRoberta, q: { ids: number[]; maskPos: number }) {
  const L = model.dims.layers;
  const logits = tidy(() => {
    const [h] = model.hiddenStates(tok.padBatch([q.ids]), { keep: [L] });
    const l = model.mlmLogits(h);
    return l.dtype === "f32" ? l : cast(l, "f32");
  });
  const all = await logits.data();
  logits.dispose();
  const V = model.dims.vocab;
  return Array.from(all.subarray(q.maskPos * V, (q.maskPos + 1) * V));
}

/** Candidate ids by descending score, ties by ascending id. */
function hostOrder(scores: number[], candidates: ArrayLike<number> | null): number[] {
  const ids = candidates ? Array.from(candidates) : scores.map((_, i) => i);
  return ids.sort((a, b) => scores[b] - scores[a] || a - b);
}

test("probeMlm: batched mask rows rank as each query alone; top-k; candidates", async () => {
  const model = await FrozenRoberta.fromFolder(modelDir, { lmHead: true });
  try {
    const { queries } = await planQueries(rows(), tok);
    assert.equal(queries.length, rows().length);
    const lengths = new Set(queries.map((q) => q.ids.length));
    assert.ok(lengths.size >= 4, "mixed lengths");
    const refs: number[][] = [];
    for (const q of queries) refs.push(await reference(model, q));
    // Batch sizes 3 and all: batches of mixed lengths, padded.
    for (const batchSize of [3, queries.length]) {
      const r = await probeMlm(model, queries, { batchSize, candidates: null, topK: 5 });
      queries.forEach((q, i) => {
        const order = hostOrder(refs[i], null);
        assert.equal(r.ranks[i], order.indexOf(q.objId) + 1, `query ${i} rank`);
        assert.deepEqual(r.top[i].map((p) => p.id), order.slice(0, 5), `query ${i} top`);
        for (const p of r.top[i]) {
          assert.ok(Math.abs(p.score - refs[i][p.id]) < 1e-4, `score ${p.score} ${refs[i][p.id]}`);
        }
      });
    }
    // Candidates: the gold objects plus a spread of other ids.
    const cand = new Set(queries.map((q) => q.objId));
    for (let id = 7; id < model.dims.vocab; id += 37) cand.add(id);
    const candidates = Int32Array.from([...cand].sort((a, b) => a - b));
    const r = await probeMlm(model, queries, { batchSize: 4, candidates, topK: 10 });
    queries.forEach((q, i) => {
      const order = hostOrder(refs[i], candidates);
      assert.equal(r.ranks[i], order.indexOf(q.objId) + 1);
      assert.deepEqual(r.top[i].map((p) => p.id), order.slice(0, 10));
      assert.ok(r.top[i].every((p) => cand.has(p.id)));
    });
    // A gold outside the candidates is an error (planQueries skips such facts beforehand).
    const without = candidates.filter((id) => id !== queries[0].objId);
    await assert.rejects(
      probeMlm(model, queries, { batchSize: 4, candidates: without, topK: 10 }),
      /not among the candidates/,
    );
    const planned = await planQueries(rows(), tok, { commonVocab: without });
    assert.ok((planned.skipped.get(SKIP.notCommon) ?? 0) >= 1);
    assert.ok(planned.queries.every((q) => without.includes(q.objId)));
    // An empty query list gives empty results.
    assert.deepEqual(await probeMlm(model, [], { batchSize: 4, candidates: null, topK: 3 }), {
      ranks: [],
      top: [],
    });
  } finally {
    model.dispose();
  }
});

Deno.test("topK: descending, ties by id, NaN left out, candidates", () => {
  const s = [0.5, NaN, 0.9, 0.5, 0.1];
  assert.deepEqual(topK(s, 3).map((p) => p.id), [2, 0, 3]);
  assert.deepEqual(topK(s, 10).map((p) => p.id), [2, 0, 3, 4]);
  assert.deepEqual(topK(s, 2, Int32Array.from([1, 3, 4])).map((p) => p.id), [3, 4]);
  assert.deepEqual(topK(s, 0), []);
});

Deno.test("probeReport: per relation and macro", () => {
  const q = (relation: string) => ({ relation }) as Parameters<typeof probeReport>[0][number];
  const r = probeReport([q("A"), q("A"), q("B")], [1, 4, 20]);
  assert.deepEqual(Object.keys(r.relations), ["A", "B"]);
  assert.deepEqual(r.relations.A, { n: 2, p1: 0.5, p10: 1, mrr: (1 + 0.25) / 2 });
  assert.equal(r.macro.p1, 0.25);
  assert.equal(r.micro.n, 3);
});

const quietly = async <T>(fn: () => Promise<T>): Promise<T> => {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
};

test("probe lama: results.json and predictions.jsonl on the world's facts", async () => {
  const out = join(root, "probe");
  const code = await quietly(() =>
    probeLama.run({
      model: modelDir,
      data: lamaFile,
      out,
      batch: "16",
      "top-k": "4",
      uhn: true,
    })
  );
  assert.equal(code, 0);
  const res = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  const preds = (await Deno.readTextFile(join(out, "predictions.jsonl"))).trim().split("\n")
    .filter((l) => l !== "").map((l) => JSON.parse(l));
  // Everything the converter wrote is either probed or skipped with a reason.
  const plan = await planQueries(readLamaQueries(lamaFile), tok, { uhn: true });
  assert.ok(plan.queries.length > 0, "some world objects are single tokens");
  const skipped = Object.values(res.skipped as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.equal(preds.length + skipped, converted.rows);
  assert.deepEqual(res.skipped, Object.fromEntries(plan.skipped));
  assert.ok(res.skipped[SKIP.notSingle] > 0);
  assert.equal(res.uhn, true);
  assert.equal(res.common_vocab, null);
  // n per relation = the planned queries of that relation = its prediction lines.
  const perRel = new Map<string, number>();
  for (const q of plan.queries) perRel.set(q.relation, (perRel.get(q.relation) ?? 0) + 1);
  assert.deepEqual(
    Object.fromEntries(Object.entries(res.relations).map(([r, s]) => [r, (s as { n: number }).n])),
    Object.fromEntries(perRel),
  );
  const rels = Object.values(res.relations) as { p1: number; p10: number; mrr: number }[];
  for (const key of ["p1", "p10", "mrr"] as const) {
    const mean = rels.reduce((a, s) => a + s[key], 0) / rels.length;
    assert.ok(Math.abs(res.macro[key] - mean) < 1e-12, key);
  }
  assert.equal(res.micro.n, plan.queries.length);
  preds.forEach((p, i) => {
    const q = plan.queries[i];
    assert.deepEqual([p.relation, p.sub, p.obj, p.text], [q.relation, q.sub, q.obj, q.text]);
    assert.ok(Number.isInteger(p.rank) && p.rank >= 1 && p.rank <= tok.vocabSize);
    assert.equal(p.top.length, 4);
    for (let j = 1; j < 4; j++) assert.ok(p.top[j - 1].score >= p.top[j].score);
    if (p.rank <= 4) assert.equal(p.top[p.rank - 1].id, q.objId);
  });
  // With a common vocabulary: only its words are candidates.
  const words = [...new Set(plan.queries.map((q) => q.obj))].slice(0, 3);
  const vocabFile = join(root, "common.txt");
  await Deno.writeTextFile(vocabFile, [...words, "the", "zzzqqqxxx"].join("\n") + "\n");
  const out2 = join(root, "probe_common");
  assert.equal(
    await quietly(() =>
      probeLama.run({
        model: modelDir,
        data: lamaFile,
        out: out2,
        batch: "32",
        "top-k": "10",
        "common-vocab": vocabFile,
      })
    ),
    0,
  );
  const res2 = JSON.parse(await Deno.readTextFile(join(out2, "results.json")));
  assert.ok(res2.skipped[SKIP.notCommon] > 0);
  const allowed = new Set(words.concat(["the"]));
  for (const l of (await Deno.readTextFile(join(out2, "predictions.jsonl"))).trim().split("\n")) {
    const p = JSON.parse(l);
    assert.ok(allowed.has(p.obj));
    assert.ok(p.rank <= allowed.size);
    assert.ok(p.top.length <= allowed.size);
    for (const t of p.top) assert.ok(allowed.has(t.token), t.token);
  }
});

test("probe lama: a folder without lm_head fails clearly", async () => {
  await assert.rejects(
    quietly(() =>
      probeLama.run({
        model: noHeadDir,
        data: lamaFile,
        out: join(root, "nohead_out"),
        batch: "32",
        "top-k": "10",
      })
    ),
    (e: Error) => {
      assert.match(e.message, /missing lm_head\.dense\.weight/);
      assert.match(e.message, /model init/);
      return true;
    },
  );
  assert.equal(await Deno.stat(join(root, "nohead_out")).catch(() => null), null);
});

test("probe lama: no single-token object at all is an error, not a table of zeros", async () => {
  // A 2,000-merge tokenizer splits every object of the world into several tokens.
  const few = join(root, "few_merges");
  const vocab = await writeRobertaTokenizer(few, { merges: 2000, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 5, { lmHead: true });
  await m.save(few);
  m.dispose();
  await assert.rejects(
    quietly(() =>
      probeLama.run({
        model: few,
        data: lamaFile,
        out: join(root, "few_out"),
        batch: "32",
        "top-k": "10",
      })
    ),
    (e: Error) => {
      assert.ok(e instanceof ProbeError);
      assert.match(e.message, /no fact can be probed.*\(1108 object not a single token\)/);
      return true;
    },
  );
  assert.equal(await Deno.stat(join(root, "few_out")).catch(() => null), null);
});

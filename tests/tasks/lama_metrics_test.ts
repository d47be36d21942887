// LAMA metrics on hand-computed rankings (ties, candidate restriction), macro vs micro over
// two relations, the UHN filter, single tokens and query encoding with the real GPT-2 BPE,
// and the world's facts converted and planned end to end.
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import type { LamaRow } from "../../src/formats/schemas.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { encodeMasked, planQueries, readLamaQueries, SKIP } from "../../src/tasks/lama_data.ts";
import {
  aggregate,
  commonVocab,
  queryMetrics,
  rankOf,
  singleTokenId,
  uhnFilter,
} from "../../src/tasks/lama_metrics.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

Deno.test("rankOf: descending score, ties broken by id, candidates restrict", () => {
  //                 id: 0    1    2    3    4
  const scores = [0.1, 0.5, 0.5, 0.9, 0.2];
  assert.equal(rankOf(scores, 3), 1);
  assert.equal(rankOf(scores, 1), 2); // 3 ahead; 2 ties but has a larger id
  assert.equal(rankOf(scores, 2), 3); // 3 ahead, and 1 ties with a smaller id
  assert.equal(rankOf(scores, 0), 5);
  assert.equal(rankOf(scores, 2, Int32Array.from([0, 2, 4])), 1);
  assert.equal(rankOf(scores, 2, Int32Array.from([2, 1])), 2);
  assert.equal(rankOf(scores, 4, Int32Array.from([0, 4, 3])), 2);
  assert.equal(rankOf([1, NaN, 0], 2), 2); // NaN never ranks ahead
  assert.throws(() => rankOf(scores, 3, Int32Array.from([0, 1])), /not among the candidates/);
  assert.throws(() => rankOf(scores, 5), /outside the 5 scores/);
  assert.throws(() => rankOf([NaN, 1], 0), /NaN/);
});

Deno.test("queryMetrics: P@1, P@10, reciprocal rank", () => {
  assert.deepEqual(queryMetrics(1), { p1: 1, p10: 1, rr: 1 });
  assert.deepEqual(queryMetrics(4), { p1: 0, p10: 1, rr: 0.25 });
  assert.deepEqual(queryMetrics(10), { p1: 0, p10: 1, rr: 0.1 });
  assert.deepEqual(queryMetrics(11), { p1: 0, p10: 0, rr: 1 / 11 });
  // LAMA's get_ranking searches the top 10,000 only: a gold object past it scores 0.
  assert.deepEqual(queryMetrics(10000), { p1: 0, p10: 0, rr: 1e-4 });
  assert.deepEqual(queryMetrics(10001), { p1: 0, p10: 0, rr: 0 });
  assert.throws(() => queryMetrics(0), /rank must be >= 1/);
});

Deno.test("aggregate: per relation, macro over relations, micro over queries", () => {
  // A: ranks 1, 3 -> P@1 1/2, P@10 1, MRR (1 + 1/3)/2 = 2/3.
  // B: ranks 2, 12, 1, 4 -> P@1 1/4, P@10 3/4, MRR (1/2 + 1/12 + 1 + 1/4)/4 = 11/24.
  const ranks = [["A", 1], ["B", 2], ["A", 3], ["B", 12], ["B", 1], ["B", 4]] as const;
  const agg = aggregate(ranks.map(([relation, rank]) => ({ relation, rank })));
  assert.deepEqual([...agg.perRelation.keys()], ["A", "B"]);
  const a = agg.perRelation.get("A")!, b = agg.perRelation.get("B")!;
  assert.deepEqual([a.n, a.p1, a.p10], [2, 0.5, 1]);
  near(a.mrr, 2 / 3);
  assert.deepEqual([b.n, b.p1, b.p10], [4, 0.25, 0.75]);
  near(b.mrr, 11 / 24);
  // macro: (1/2 + 1/4)/2, (1 + 3/4)/2, (2/3 + 11/24)/2 = 9/16
  near(agg.macro.p1, 0.375);
  near(agg.macro.p10, 0.875);
  near(agg.macro.mrr, 9 / 16);
  // micro: 2/6, 5/6, (1 + 1/3 + 1/2 + 1/12 + 1 + 1/4)/6 = 19/36
  assert.equal(agg.micro.n, 6);
  near(agg.micro.p1, 1 / 3);
  near(agg.micro.p10, 5 / 6);
  near(agg.micro.mrr, 19 / 36);
  const none = aggregate([]);
  assert.deepEqual(none.macro, { p1: 0, p10: 0, mrr: 0 });
  assert.equal(none.perRelation.size, 0);
});

Deno.test("uhnFilter: object a case-insensitive substring of the subject", () => {
  assert.equal(uhnFilter("Apple Watch", "Apple"), true);
  assert.equal(uhnFilter("Apple Watch", "apple"), true);
  assert.equal(uhnFilter("barack OBAMA", "Obama"), true);
  assert.equal(uhnFilter("Lanmont", "mont"), true);
  assert.equal(uhnFilter("Paris", "France"), false);
  assert.equal(uhnFilter("Obama", "Barack Obama"), false);
});

Deno.test("singleTokenId and commonVocab with GPT-2's BPE", () => {
  assert.equal(singleTokenId(tok, "Paris"), tok.tokenToId("ĠParis"));
  assert.equal(singleTokenId(tok, "the"), tok.tokenToId("Ġthe"));
  assert.equal(singleTokenId(tok, "paris"), null); // Ġpar is
  assert.equal(singleTokenId(tok, "Kadapter"), null); // ĠKad apter
  assert.equal(singleTokenId(tok, ""), null);
  const v = commonVocab(tok, ["the", "Paris", "Kadapter", "France", "Paris"]);
  const want = ["Ġthe", "ĠParis", "ĠFrance"].map((t) => tok.tokenToId(t)!).sort((a, b) => a - b);
  assert.deepEqual([...v.ids], want);
  assert.deepEqual(v.rejected, ["Kadapter"]);
});

Deno.test("encodeMasked: text around [MASK] right-stripped, <mask> takes the space", () => {
  const e = encodeMasked(tok, "Paris is the capital of [MASK] .")!;
  assert.deepEqual(e.ids.map((i) => tok.idToToken(i)), [
    ...["<s>", "Paris", "Ġis", "Ġthe", "Ġcapital", "Ġof", "<mask>", "Ġ.", "</s>"],
  ]);
  assert.equal(e.maskPos, 6);
  const start = encodeMasked(tok, "[MASK] is a city.")!;
  assert.deepEqual(start.ids.map((i) => tok.idToToken(i)), [
    ...["<s>", "<mask>", "Ġis", "Ġa", "Ġcity", ".", "</s>"],
  ]);
  assert.equal(start.maskPos, 1);
  assert.equal(encodeMasked(tok, "no mask"), null);
  assert.equal(encodeMasked(tok, "[MASK] [MASK]"), null);
});

const lama = (sub: string, obj: string, s: string, relation = "P36"): LamaRow => ({
  relation,
  sub_label: sub,
  obj_label: obj,
  masked_sentence: s,
  source: "trex",
});

Deno.test("planQueries: skips counted by reason, UHN and common vocabulary optional", async () => {
  const rows = [
    lama("France", "Paris", "The capital of France is [MASK] ."),
    lama("Paris Hilton", "Paris", "Paris Hilton was born in [MASK] .", "P19"),
    lama("Kad", "Kadapter", "Kad makes [MASK] ."),
    lama("Italy", "Rome", "The capital of Italy is [MASK] ."),
    lama("x", "the", "no mask here"),
    lama("x", "the", "[MASK] and [MASK]"),
  ];
  const all = await planQueries(rows, tok);
  assert.deepEqual(all.queries.map((q) => q.obj), ["Paris", "Paris", "Rome"]);
  assert.deepEqual([...all.skipped], [
    [SKIP.notSingle, 1],
    [SKIP.noMask, 1],
    [SKIP.severalMasks, 1],
  ]);
  const q = all.queries[0];
  assert.equal(q.objId, tok.tokenToId("ĠParis"));
  assert.equal(q.ids[q.maskPos], tok.maskId);
  assert.equal(q.text, "The capital of France is <mask> .");
  assert.equal(tok.decode(q.ids), "<s>The capital of France is<mask> .</s>");

  const vocab = commonVocab(tok, ["Paris", "France"]).ids;
  const fits = await planQueries(rows, tok, { uhn: true, commonVocab: vocab, maxLength: 9 });
  assert.deepEqual(fits.queries.map((q) => q.sub), ["France"]);
  const some = await planQueries(rows, tok, { uhn: true, commonVocab: vocab, maxLength: 8 });
  assert.deepEqual(some.queries.map((q) => q.sub), []);
  assert.deepEqual(Object.fromEntries(some.skipped), {
    [SKIP.uhn]: 1,
    [SKIP.notSingle]: 1,
    [SKIP.notCommon]: 1,
    [SKIP.noMask]: 1,
    [SKIP.severalMasks]: 1,
    [SKIP.tooLong]: 1, // <s> The Ġcapital Ġof ĠFrance Ġis <mask> Ġ. </s>: 9 tokens
  });
});

Deno.test("the world's facts: converted, read back and planned", async () => {
  const world = new URL("../../data/world/", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "kadapter_lama_" });
  const out = join(dir, "world_lama.arrow");
  const { rows } = await convert("lama-trex", join(world, "facts.jsonl"), out, {
    relations: join(world, "relations.jsonl"),
  });
  const plan = await planQueries(readLamaQueries(out), tok);
  const skipped = [...plan.skipped.values()].reduce((a, b) => a + b, 0);
  assert.equal(plan.queries.length + skipped, rows);
  assert.deepEqual([...plan.skipped.keys()].filter((k) => k !== SKIP.notSingle), []);
  for (const q of plan.queries) {
    assert.equal(q.ids[q.maskPos], tok.maskId);
    assert.equal(tok.encodeText(" " + q.obj).length, 1);
  }
  await Deno.remove(dir, { recursive: true });
});

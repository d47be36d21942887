// facAdapter task: encoding a T-REx row with entity markers (hand-checked GPT-2 BPE pieces),
// skip reasons, the relation list, loading with an incomplete label list, and facTask's batch
// loss and F1 evaluation against independent float64 / host computations on a tiny model.
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { readRows } from "../../src/formats/arrow.ts";
import type { TrexRow } from "../../src/formats/schemas.ts";
import { FacHead } from "../../src/models/kadapter_heads.ts";
import { padBatch } from "../../src/tasks/examples.ts";
import {
  encodeFac,
  facTask,
  relationSet,
  SKIP_MARKER,
  SKIP_RELATION,
} from "../../src/tasks/fac.ts";
import { type Encoding, loadSplit, skippedText } from "../../src/tasks/task.ts";
import { crossEntropy } from "../reference.ts";
import { assertClose, run, test } from "../setup.ts";
import { QUIET, splitOf } from "./task_split.ts";
import { H, PAD, tinyInfusion } from "./tiny_infusion.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const pieces = (ids: ArrayLike<number>) => Array.from(ids, (i) => tok.idToToken(i));

const TRAIN = "data/world/trex_train.arrow", DEV = "data/world/trex_dev.arrow";

const ROW: TrexRow = {
  token: ["Barack", "Obama", "was", "born", "in", "Honolulu", "."],
  subj_start: 0,
  subj_end: 1,
  obj_start: 5,
  obj_end: 5,
  relation: "P19",
};
const LABELS = new Map([["P17", 0], ["P19", 1], ["P27", 2]]);

// <s> @ Bar ack ĠObama @ Ġwas Ġborn Ġin # ĠHonolulu # Ġ. </s>
//  0  1  2   3     4   5   6     7    8  9     10   11  12   13
const FULL = [
  ...["<s>", "@", "Bar", "ack", "ĠObama", "@", "Ġwas", "Ġborn", "Ġin"],
  ...["#", "ĠHonolulu", "#", "Ġ.", "</s>"],
];

Deno.test("fac: encodeFac marks the subject with @ and the object with #", () => {
  const e = encodeFac(tok, ROW, LABELS, 64, "hf");
  assert.ok(typeof e !== "string", String(e));
  assert.deepEqual(pieces(e.ids), FULL);
  assert.equal(e.ids[0], tok.bosId);
  assert.equal(e.ids[e.ids.length - 1], tok.eosId);
  assert.deepEqual(e.values, { subj: 1, obj: 9, label: 1 });
  assert.equal(tok.idToToken(e.ids[e.values!.subj]), "@");
  assert.equal(tok.idToToken(e.ids[e.values!.obj]), "#");
  assert.equal(e.tokens, undefined);
  const other = encodeFac(tok, { ...ROW, relation: "P27" }, LABELS, 64, "hf");
  assert.ok(typeof other !== "string");
  assert.equal(other.values!.label, 2);
});

Deno.test("fac: unknown relation and cut markers are skipped with their reason", () => {
  assert.equal(encodeFac(tok, { ...ROW, relation: "P999" }, LABELS, 64, "hf"), SKIP_RELATION);
  // Checked before anything else: even a row too long for its markers reports the relation.
  assert.equal(encodeFac(tok, { ...ROW, relation: "P999" }, LABELS, 4, "hf"), SKIP_RELATION);
  // maxLength 10 keeps positions 0..8 and </s>: the object's opening # (9) is cut.
  assert.equal(encodeFac(tok, ROW, LABELS, 10, "hf"), SKIP_MARKER);
  assert.equal(encodeFac(tok, ROW, LABELS, 4, "hf"), SKIP_MARKER);
  // Subject first in the words but after the object: the subject's @ is what gets cut.
  const late = { ...ROW, subj_start: 5, subj_end: 5, obj_start: 0, obj_end: 0 };
  assert.equal(encodeFac(tok, late, LABELS, 10, "hf"), SKIP_MARKER);
  // maxLength 11 keeps both opening markers (1, 9) but not the closing # (11): still encoded.
  for (const max of [11, 12]) {
    const e = encodeFac(tok, ROW, LABELS, max, "hf");
    assert.ok(typeof e !== "string", `max ${max}: ${e}`);
    assert.deepEqual(pieces(e.ids), [...FULL.slice(0, max - 1), "</s>"]);
    assert.deepEqual(e.values, { subj: 1, obj: 9, label: 1 });
  }
  const e13 = encodeFac(tok, ROW, LABELS, 13, "hf");
  assert.ok(typeof e13 !== "string");
  assert.deepEqual(pieces(e13.ids), [...FULL.slice(0, 12), "</s>"]);
});

async function relationsByRows(path: string): Promise<string[]> {
  const all: string[] = [];
  for await (const rows of readRows(path, "trex-rc")) for (const r of rows) all.push(r.relation);
  return all;
}

Deno.test("fac: relationSet is the sorted distinct relations of the data", async () => {
  const got = await relationSet(TRAIN);
  assert.equal(got.length, 12);
  for (let i = 1; i < got.length; i++) assert.ok(got[i - 1] < got[i], `${got}`);
  const all = await relationsByRows(TRAIN);
  assert.deepEqual(new Set(got), new Set(all));
});

Deno.test("fac: loading with a relation missing from the labels counts those rows", async () => {
  const relations = await relationSet(TRAIN);
  const dev = await relationsByRows(DEV);
  // Leave out the relation most frequent in dev, so the count is far from 0 and from all.
  const freq = new Map<string, number>();
  for (const r of dev) freq.set(r, (freq.get(r) ?? 0) + 1);
  const missing = relations.reduce((a, b) => (freq.get(b) ?? 0) > (freq.get(a) ?? 0) ? b : a);
  const expectMissing = dev.filter((r) => r === missing).length;
  const notInTrain = dev.filter((r) => !relations.includes(r)).length;
  assert.ok(expectMissing > 0 && expectMissing < dev.length);
  const kept = relations.filter((r) => r !== missing);
  const enc = { tok, maxLength: 512, vocab: tok.vocabSize, padId: tok.padId };
  const { ex, report } = await loadSplit(facTask(enc, kept), DEV, QUIET);
  assert.equal(report.rows, dev.length);
  assert.equal(report.skipped.get(SKIP_RELATION), expectMissing + notInTrain);
  const skipped = [...report.skipped.values()].reduce((a, b) => a + b, 0);
  assert.equal(report.kept + skipped, dev.length);
  assert.equal(ex.length, report.kept);
  assert.match(skippedText(report), new RegExp(`${expectMissing + notInTrain} ${SKIP_RELATION}`));
  for (let i = 0; i < ex.length; i++) {
    assert.notEqual(kept[ex.value(i, "label")], missing);
    assert.equal(tok.idToToken(ex.ids(i)[ex.value(i, "subj")]), "@");
    assert.equal(tok.idToToken(ex.ids(i)[ex.value(i, "obj")]), "#");
  }
});

// ---- on the GPU: a tiny encoder, adapter and head on synthetic examples -------------------
const RELATIONS = 5;
const NAMES = ["P1", "P2", "P3", "P4", "P5"];
/** What the synthetic examples' task is made with (its tokenizer and max length go unused). */
const ENC: Encoding = { tok, maxLength: 16, vocab: 30, padId: PAD, tokenization: "hf" };

const tinyModel = (seed: number) =>
  tinyInfusion(
    seed,
    (hs) => new FacHead({ hidden: H, labels: RELATIONS, dropout: 0.1, layerNormEps: 1e-5 }, hs),
  );

/** Examples of distinct lengths 3 .. 10 in random order (so length order is unique). */
function synthetic(rng: { int(lo: number, hi?: number): number }) {
  const lengths = [3, 4, 5, 6, 7, 8, 9, 10];
  for (let i = lengths.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [lengths[i], lengths[j]] = [lengths[j], lengths[i]];
  }
  const ex = facTask(ENC, NAMES).store();
  const host = lengths.map((n) => {
    const ids = [0, ...Array.from({ length: n - 2 }, () => rng.int(3, 30)), 2];
    const v = { subj: rng.int(1, n - 1), obj: rng.int(1, n - 1), label: rng.int(0, RELATIONS) };
    ex.add({ ids, values: v });
    return { ids, ...v };
  });
  return { ex, host };
}

test("fac: facTask's loss is the cross-entropy of the head's logits on the padded batch", async (rng) => {
  const { model, adapter, head, dispose } = tinyModel(rng.int(0, 1000));
  adapter.eval();
  head.eval();
  const { ex, host } = synthetic(rng);
  const indices = [5, 0, 3];
  const [loss, logits] = await run(() => {
    const f = model.features(padBatch(ex, indices, PAD));
    const at = (k: "subj" | "obj") => indices.map((i) => host[i][k]);
    return [
      facTask(ENC, NAMES).loss({ model, head }, ex, indices),
      head.forward(f.last, f.adapter, at("subj"), at("obj")),
    ];
  });
  assert.equal(logits.length, indices.length * RELATIONS);
  const want = crossEntropy(
    { shape: [indices.length, RELATIONS], data: logits },
    indices.map((i) => host[i].label),
  );
  assertClose(loss, [want], { atol: 1e-5, rtol: 1e-4 }, "fac loss");
  // Labels matter: other labels give another loss.
  const other = crossEntropy(
    { shape: [indices.length, RELATIONS], data: logits },
    indices.map((i) => (host[i].label + 1) % RELATIONS),
  );
  assert.ok(Math.abs(other - want) > 1e-4);
  dispose();
});

test("fac: facTask's evaluate: F1 from argmax logits, in eval mode, then back to train", async (rng) => {
  const { model, adapter, head, dispose } = tinyModel(rng.int(0, 1000));
  const { ex, host } = synthetic(rng);
  const task = facTask(ENC, NAMES);
  const batchSize = 3;
  // Independently: eval mode, examples by increasing length in batches of 3, argmax per row.
  adapter.eval();
  head.eval();
  const order = host.map((_, i) => i).sort((a, b) => host[a].ids.length - host[b].ids.length);
  const gold: number[] = [], pred: number[] = [];
  for (let k = 0; k < order.length; k += batchSize) {
    const idx = order.slice(k, k + batchSize);
    const [logits] = await run(() => {
      const f = model.features(padBatch(ex, idx, PAD));
      return [
        head.forward(f.last, f.adapter, idx.map((i) => host[i].subj), idx.map((i) => host[i].obj)),
      ];
    });
    idx.forEach((i, r) => {
      const row = [...logits.subarray(r * RELATIONS, (r + 1) * RELATIONS)];
      gold.push(host[i].label);
      pred.push(row.indexOf(Math.max(...row)));
    });
  }
  const acc = gold.filter((g, i) => g === pred[i]).length / gold.length;
  // Macro F1 over the labels seen in gold or predictions.
  const seen = [...new Set([...gold, ...pred])];
  const macro = seen.map((l) => {
    const tp = gold.filter((g, i) => g === l && pred[i] === l).length;
    const fp = pred.filter((p, i) => p === l && gold[i] !== l).length;
    const fn = gold.filter((g, i) => g === l && pred[i] !== l).length;
    return tp === 0 ? 0 : 2 * tp / (2 * tp + fp + fn);
  }).reduce((a, b) => a + b, 0) / seen.length;

  adapter.train();
  head.train();
  const first = await task.evaluate({ model, head }, splitOf(ex), batchSize);
  assert.ok(adapter.training && head.training, "modules left in eval mode");
  const second = await task.evaluate({ model, head }, splitOf(ex), batchSize);
  assert.deepEqual(second, first);
  const { micro_f1, macro_f1 } = first.metrics;
  assert.ok(Math.abs(micro_f1 - acc) < 1e-12, `micro ${micro_f1} vs ${acc}`);
  assert.ok(Math.abs(macro_f1 - macro) < 1e-12, `macro ${macro_f1} vs ${macro}`);
  assert.ok(adapter.training && head.training, "modules left in eval mode");
  // Train mode (dropout 0.1) really is different, so eval mode was needed.
  const [a, b] = await run(() => {
    const f = model.features(padBatch(ex, order, PAD));
    const at = (k: "subj" | "obj") => order.map((i) => host[i][k]);
    return [
      head.forward(f.last, f.adapter, at("subj"), at("obj")),
      head.forward(f.last, f.adapter, at("subj"), at("obj")),
    ];
  });
  assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-6), "dropout had no effect in train mode");
  dispose();
});

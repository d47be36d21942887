// Relation classification: TACRED-style encoding with `@` / `#` (hand-checked GPT-2 BPE
// pieces), skip reasons, the label list, loading the bundled dev split, the relation head
// against a float64 host forward (cat(@, #) order), relationTask's cross-entropy batch loss, and
// its evaluation against tacredScores on independently computed predictions.
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { readRows } from "../../src/formats/arrow.ts";
import type { RelationRow } from "../../src/formats/schemas.ts";
import { RelationHead } from "../../src/models/task_heads.ts";
import {
  cutNote,
  encodeCutRelation,
  encodeRelation,
  NO_RELATION,
  relationLabels,
  relationTask,
  SKIP_NEGATIVE,
  SKIP_NO_GOLD,
  SKIP_RELATION_MARKER,
  SKIP_UNKNOWN_RELATION,
} from "../../src/tasks/relation.ts";
import { FINETUNE_PRESETS } from "../../src/cli/finetune.ts";
import { tacredScores } from "../../src/tasks/downstream_metrics.ts";
import { padBatch, type PaddedBatch } from "../../src/tasks/examples.ts";
import { alteredText, type Encoding, loadSplit, skippedText } from "../../src/tasks/task.ts";
import { Tensor } from "../../src/tensor/mod.ts";
import { crossEntropy, linear, nd } from "../reference.ts";
import { assertClose, read, run, test } from "../setup.ts";
import { QUIET, splitOf } from "./task_split.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const pieces = (ids: ArrayLike<number>) => Array.from(ids, (i) => tok.idToToken(i));

const TRAIN = "data/tasks/relation_train.arrow", DEV = "data/tasks/relation_dev.arrow";
const ROW: RelationRow = {
  token: ["Caltech", "is", "headquartered", "in", "New", "York", "."],
  subj_start: 0,
  subj_end: 0,
  obj_start: 4,
  obj_end: 5,
  relation: "org:city_of_headquarters",
};
const LABELS = new Map([["no_relation", 0], ["org:city_of_headquarters", 1], [
  "org:founded_by",
  2,
]]);
const FULL = [
  ...["<s>", "@", "Cal", "tech", "@", "Ġis", "Ġheadquartered", "Ġin"],
  ...["#", "ĠNew", "ĠYork", "#", "Ġ.", "</s>"],
];

Deno.test("relation: encodeRelation marks the subject with @ and the object with #", () => {
  const e = encodeRelation(tok, ROW, LABELS, 184, "hf");
  assert.ok(typeof e !== "string", String(e));
  assert.deepEqual(pieces(e.ids), FULL);
  assert.deepEqual(e.values, { subj: 1, obj: 8, label: 1 });
  const none = encodeRelation(tok, { ...ROW, relation: NO_RELATION }, LABELS, 184, "hf");
  assert.ok(typeof none !== "string");
  assert.equal(none.values!.label, 0);
  // Object before subject: the markers follow the words.
  const swap = encodeRelation(
    tok,
    { ...ROW, subj_start: 4, subj_end: 5, obj_start: 0, obj_end: 0 },
    LABELS,
    184,
    "hf",
  );
  assert.ok(typeof swap !== "string");
  assert.deepEqual(pieces(swap.ids).slice(0, 5), ["<s>", "#", "Cal", "tech", "#"]);
  assert.deepEqual(swap.values, { subj: 8, obj: 1, label: 1 });
});

Deno.test("relation: unknown relations and cut markers are skipped with their reason", () => {
  assert.equal(
    encodeRelation(tok, { ...ROW, relation: "per:title" }, LABELS, 184, "hf"),
    SKIP_UNKNOWN_RELATION,
  );
  // maxLength 9 keeps positions 0..7 and </s>: the object's # (8) is cut.
  assert.equal(encodeRelation(tok, ROW, LABELS, 9, "hf"), SKIP_RELATION_MARKER);
  // maxLength 10 keeps the first # but not the object nor the closing #: still encoded.
  const e = encodeRelation(tok, ROW, LABELS, 10, "hf");
  assert.ok(typeof e !== "string");
  assert.deepEqual(pieces(e.ids), [...FULL.slice(0, 9), "</s>"]);
});

// The released TACRED loader (--negative_sample N) counts down from N per training
// no_relation row and keeps it while the count is > 0: the first N - 1, in file order.
Deno.test("relation: --max-negatives keeps the first N-1 training no_relation rows", async () => {
  assert.equal(FINETUNE_PRESETS.relation.tacred.maxNegatives, 45000);
  const labels = await relationLabels(TRAIN);
  const dev: RelationRow[] = [];
  for await (const rows of readRows(DEV, "relation")) dev.push(...rows);
  const negatives = dev.filter((r) => r.relation === NO_RELATION).length;
  assert.ok(negatives > 3);
  const enc = { tok, maxLength: 184, vocab: tok.vocabSize, padId: tok.padId };
  const task = relationTask({ maxNegatives: 3 }).task(enc, labels);
  const train = await loadSplit(task, DEV, { ...QUIET, train: true });
  assert.equal(train.report.skipped.get(SKIP_NEGATIVE), negatives - 2);
  assert.equal(train.report.kept, dev.length - negatives + 2);
  assert.match(skippedText(train.report), new RegExp(`${negatives - 2} ${SKIP_NEGATIVE}`));
  const keptNegatives = train.rows.filter((r) => dev[r].relation === NO_RELATION);
  const firstTwo = dev.flatMap((r, i) => r.relation === NO_RELATION ? [i] : []).slice(0, 2);
  assert.deepEqual(keptNegatives, firstTwo);
  // The count is per load (a second load caps again), and evaluation rows are never capped.
  const again = await loadSplit(task, DEV, { ...QUIET, train: true });
  assert.equal(again.report.kept, train.report.kept);
  const dev2 = await loadSplit(task, DEV, QUIET);
  assert.equal(dev2.report.kept, dev.length);
});

// The released code truncates and reads a cut marker at max_seq_length - 10 (numpy's index);
// a marker at the last position reads </s>. Only training rows are skipped.
Deno.test("relation: an over-long evaluation row is kept, read as the released code reads it", async () => {
  const at9 = encodeCutRelation(tok, ROW, LABELS, 9, "hf");
  assert.deepEqual(pieces(at9.ids), [...FULL.slice(0, 8), "</s>"]);
  assert.deepEqual(at9.values, { subj: 1, obj: 8, label: 1 });
  const at8 = encodeCutRelation(tok, ROW, LABELS, 8, "hf");
  assert.deepEqual(pieces(at8.ids), [...FULL.slice(0, 7), "</s>"]);
  assert.deepEqual(at8.values, { subj: 1, obj: 6, label: 1 });
  const labels = await relationLabels(TRAIN);
  const enc = { tok, maxLength: 12, vocab: tok.vocabSize, padId: tok.padId };
  const task = relationTask().task(enc, labels);
  const train = await loadSplit(task, DEV, { ...QUIET, train: true });
  const cut = train.report.skipped.get(SKIP_RELATION_MARKER)!;
  assert.ok(cut > 0);
  const dev = await loadSplit(task, DEV, QUIET);
  assert.equal(dev.report.kept, dev.report.rows);
  assert.equal(dev.ex.length, 150);
  assert.equal(dev.report.altered.get(cutNote(12)), cut);
  assert.equal(alteredText(dev.report), `${cut} rows: ${cutNote(12)}`);
  assert.match(cutNote(12), /read at position 2 /);
});

Deno.test("relation: relationLabels and loading the bundled dev split", async () => {
  const labels = await relationLabels(TRAIN);
  assert.equal(labels.length, 8);
  assert.ok(labels.includes(NO_RELATION));
  assert.deepEqual(labels, [...labels].sort());
  const dev: RelationRow[] = [];
  for await (const rows of readRows(DEV, "relation")) dev.push(...rows);
  assert.equal(dev.length, 150);
  // Leave out the most frequent positive relation: its rows are skipped and counted.
  const freq = new Map<string, number>();
  for (const r of dev) freq.set(r.relation, (freq.get(r.relation) ?? 0) + 1);
  const missing = labels.filter((l) => l !== NO_RELATION)
    .reduce((a, b) => (freq.get(b) ?? 0) > (freq.get(a) ?? 0) ? b : a);
  const kept = labels.filter((l) => l !== missing);
  const enc = { tok, maxLength: 184, vocab: tok.vocabSize, padId: tok.padId };
  const task = relationTask().task(enc, kept);
  const { ex, report } = await loadSplit(task, DEV, { ...QUIET, train: true });
  const n = freq.get(missing)!;
  assert.ok(n > 0);
  assert.equal(report.rows, 150);
  assert.equal(report.skipped.get(SKIP_UNKNOWN_RELATION), n);
  assert.equal(report.kept, 150 - n);
  assert.equal(ex.length, report.kept);
  assert.match(skippedText(report), new RegExp(`${n} ${SKIP_UNKNOWN_RELATION}`));
  const keptRows = dev.filter((r) => r.relation !== missing);
  keptRows.forEach((r, i) => {
    assert.equal(kept[ex.value(i, "label")], r.relation);
    assert.equal(tok.idToToken(ex.ids(i)[ex.value(i, "subj")]), "@");
    assert.equal(tok.idToToken(ex.ids(i)[ex.value(i, "obj")]), "#");
  });
  // Evaluation keeps them, numbered past the label list (scored, never right) and noted.
  const all = await loadSplit(task, DEV, QUIET);
  assert.equal(all.report.kept, 150);
  const note = `gold ${JSON.stringify(missing)} not in the model's labels: never predicted`;
  assert.equal(all.report.altered.get(note), n);
  dev.forEach((r, i) => {
    assert.equal(
      all.ex.value(i, "label"),
      r.relation === missing ? kept.length : kept.indexOf(r.relation),
    );
  });
  // A row without gold (relation "") is predicted, never trained on.
  const none = { ...ROW, relation: "" };
  assert.equal(
    task.encode(none, { train: true, dropped: new Map(), altered: new Map() }),
    SKIP_NO_GOLD,
  );
  const e = task.encode(none, { train: false, dropped: new Map(), altered: new Map() });
  assert.ok(typeof e !== "string" && !Array.isArray(e));
  assert.equal(e.values!.label, -1);
});

// ---- on the GPU: the head on random features -------------------------------------------
const H = 16, NL = 4, PAD = 1;
const NAMES = ["no_relation", "org:founded_by", "per:origin", "per:title"];
/** What the synthetic examples' task is made with (its tokenizer and max length go unused). */
const ENC: Encoding = { tok, maxLength: 16, vocab: 30, padId: PAD, tokenization: "hf" };

function synthetic(rng: { int(lo: number, hi?: number): number }) {
  const lengths = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  for (let i = lengths.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [lengths[i], lengths[j]] = [lengths[j], lengths[i]];
  }
  const ex = relationTask().task(ENC, NAMES).store();
  const host = lengths.map((n) => {
    const ids = [0, ...Array.from({ length: n - 2 }, () => rng.int(3, 30)), 2];
    const v = { subj: rng.int(1, n - 1), obj: rng.int(1, n - 1), label: rng.int(0, NL) };
    ex.add({ ids, values: v });
    return { ids, ...v };
  });
  return { ex, host };
}

/** Features as a deterministic function of (token id, position, channel). */
function featuresOf(seed: number) {
  return (b: PaddedBatch): Tensor => {
    const v = new Float32Array(b.batch * b.seqLen * H);
    for (let i = 0; i < v.length; i++) {
      const row = Math.floor(i / H);
      v[i] = Math.sin(
        seed + 12.9898 * b.inputIds[row] + 78.233 * (i % H) + 0.37 * (row % b.seqLen),
      );
    }
    return Tensor.from(v, [b.batch, b.seqLen, H]);
  };
}

test("relation: the head is out_proj(dense(cat(@ row, # row))) in eval mode", async (rng) => {
  const head = new RelationHead(H, NL, 0.1, rng.int(0, 1000));
  const p = new Map(head.namedParameters());
  assert.deepEqual(
    [...p.keys()].sort(),
    ["dense.bias", "dense.weight", "out_proj.bias", "out_proj.weight"],
  );
  assert.deepEqual(p.get("dense.weight")!.shape, [H, 2 * H]);
  assert.deepEqual(p.get("out_proj.weight")!.shape, [NL, H]);
  const get = async (n: string) => nd(await read(p.get(n)!), p.get(n)!.shape);
  const dw = await get("dense.weight"), db = await get("dense.bias");
  const ow = await get("out_proj.weight"), ob = await get("out_proj.bias");
  // PyTorch's default bound 1/sqrt(fan_in): 2H for dense, H for out_proj.
  for (const t of [dw, db]) assert.ok(t.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(2 * H)));
  for (const t of [ow, ob]) assert.ok(t.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(H)));
  assert.ok(dw.data.some((v) => Math.abs(v) > 1 / Math.sqrt(2 * H) / 2), "init too narrow");
  const b = 3, s = 5;
  const f = rng.randn([b * s * H]).data;
  const subj = [1, 4, 0], obj = [3, 2, 4];
  head.eval();
  const [got] = await run(() => [head.forward(Tensor.from(f, [b, s, H]), subj, obj)]);
  const row = (i: number, q: number) => [...f.slice((i * s + q) * H, (i * s + q + 1) * H)];
  const x = nd(Float64Array.from(subj.flatMap((q, i) => [...row(i, q), ...row(i, obj[i])])), [
    b,
    2 * H,
  ]);
  const want = linear(linear(x, dw, db), ow, ob);
  assertClose(got, [...want.data], { atol: 1e-5, rtol: 1e-4 }, "relation logits");
  const t = Tensor.from(f, [b, s, H]);
  assert.throws(() => head.forward(t, subj, [1, 2]), /2 marker positions/);
  assert.throws(() => head.forward(t, subj, [1, 2, 5]), /outside 0 \.\. 4/);
  t.dispose();
  head.dispose();
});

test("relation: the task's loss is the cross-entropy of the head's logits", async (rng) => {
  const head = new RelationHead(H, NL, 0.1, rng.int(0, 1000)).eval();
  const { ex, host } = synthetic(rng);
  const features = featuresOf(rng.int(0, 100));
  const indices = [6, 1, 3, 0];
  const [loss, logits] = await run(() => [
    relationTask().task(ENC, NAMES).loss({ features, head, modules: [] }, ex, indices),
    head.forward(
      features(padBatch(ex, indices, PAD)),
      indices.map((i) => host[i].subj),
      indices.map((i) => host[i].obj),
    ),
  ]);
  const want = crossEntropy(nd(logits, [4, NL]), indices.map((i) => host[i].label));
  assertClose(loss, [want], { atol: 1e-5, rtol: 1e-4 }, "relation loss");
  const other = crossEntropy(nd(logits, [4, NL]), indices.map((i) => (host[i].label + 1) % NL));
  assert.ok(Math.abs(other - want) > 1e-4);
  head.dispose();
});

test("relation: the task's evaluate equals tacredScores on independent argmax predictions", async (rng) => {
  const head = new RelationHead(H, NL, 0.1, rng.int(0, 1000));
  const { ex, host } = synthetic(rng);
  const features = featuresOf(rng.int(0, 100));
  head.eval();
  const order = host.map((_, i) => i).sort((a, b) => host[a].ids.length - host[b].ids.length);
  const pred: number[] = new Array(host.length);
  for (let k = 0; k < order.length; k += 4) {
    const idx = order.slice(k, k + 4);
    const [l] = await run(() => [
      head.forward(
        features(padBatch(ex, idx, PAD)),
        idx.map((i) => host[i].subj),
        idx.map((i) => host[i].obj),
      ),
    ]);
    idx.forEach((i, r) => {
      const row = [...l.subarray(r * NL, (r + 1) * NL)];
      pred[i] = row.indexOf(Math.max(...row));
    });
  }
  head.train();
  const acc = host.filter((h, i) => h.label === pred[i]).length / host.length;
  const model = { features, head, modules: [] };
  // The task ignores no_relation: a label list with no_relation at index 3 scores with class
  // 3 (per:title in NAMES) as the negative.
  const titleNegative = ["per:title", ...NAMES.slice(1, 3), NO_RELATION];
  for (const [negative, names] of [[NO_RELATION, NAMES], ["per:title", titleNegative]] as const) {
    const { metrics: got } = await relationTask().task(ENC, names).evaluate(
      model,
      splitOf(ex),
      4,
    );
    assert.ok(head.training, "head left in eval mode");
    const gold = host.map((h) => NAMES[h.label]), predicted = pred.map((p) => NAMES[p]);
    const want = { ...tacredScores(gold, predicted, negative), accuracy: acc };
    for (const [k, v] of Object.entries(want)) {
      const g = got[k];
      assert.ok(Math.abs(g - v) < 1e-12, `${negative} ${k}: ${g} vs ${v}`);
    }
  }
  // Rows without gold (label -1) are predicted and left out of the metrics.
  const withUnlabelled = relationTask().task(ENC, NAMES).store();
  const values = (h: (typeof host)[number], label = h.label) => ({
    subj: h.subj,
    obj: h.obj,
    label,
  });
  host.forEach((h) => withUnlabelled.add({ ids: h.ids, values: values(h) }));
  for (const h of host.slice(0, 3)) withUnlabelled.add({ ids: h.ids, values: values(h, -1) });
  const out = await relationTask().task(ENC, NAMES).evaluate(model, splitOf(withUnlabelled), 4);
  const gold = host.map((h) => NAMES[h.label]), predicted = pred.map((p) => NAMES[p]);
  const want = { ...tacredScores(gold, predicted), accuracy: acc };
  for (const [k, v] of Object.entries(want)) assert.ok(Math.abs(out.metrics[k] - v) < 1e-12, k);
  assert.equal(out.predictions.length, host.length + 3);
  out.predictions.slice(host.length).forEach((p, i) => {
    assert.equal(p.gold, null);
    assert.equal(p.predicted, predicted[i]);
  });
  await assert.rejects(
    relationTask().task(ENC, NAMES.slice(1)).evaluate(model, splitOf(ex), 4),
    /3/,
  );
  head.dispose();
});

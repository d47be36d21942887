// Multiple choice: the `<s> c </s></s> q </s></s> a </s>` layout per choice (hand-checked GPT-2
// BPE pieces), longest_first truncation and its counts, the grouped store, loading the
// bundled dev split (whose contexts name the right choice and no other), the choice head
// against a float64 host forward, multipleChoiceTask's CE batch loss, and its evaluation against
// choiceAccuracy on independently computed scores. Features are random.
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { readRows } from "../../src/formats/arrow.ts";
import type { MultipleChoiceRow } from "../../src/formats/schemas.ts";
import { ChoiceHead } from "../../src/models/task_heads.ts";
import {
  ChoiceExamples,
  choiceLabels,
  choiceStats,
  encodeChoice,
  multipleChoiceTask,
  SKIP_CHOICE_COUNT,
  SKIP_NO_ANSWER,
} from "../../src/tasks/multiple_choice.ts";
import { argmax, choiceAccuracy } from "../../src/tasks/downstream_metrics.ts";
import { padBatch, type PaddedBatch } from "../../src/tasks/examples.ts";
import { type Encoding, loadSplit, skippedText } from "../../src/tasks/task.ts";
import { Tensor } from "../../src/tensor/mod.ts";
import { crossEntropy, linear, nd } from "../reference.ts";
import { assertClose, read, run, test } from "../setup.ts";
import { QUIET, splitOf } from "./task_split.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const pieces = (ids: ArrayLike<number>) => Array.from(ids, (i) => tok.idToToken(i));
const DEV = "data/tasks/multiple_choice_dev.arrow";

const ROW: MultipleChoiceRow = {
  context: "Tom is a cook .",
  question: "What is Tom ?",
  choices: ["a cook", "a pilot"],
  label: 1,
};
const C = ["Tom", "Ġis", "Ġa", "Ġcook", "Ġ."], Q = ["What", "Ġis", "ĠTom", "Ġ?"];

Deno.test("choice: encodeChoice lays out <s> c </s></s> q </s></s> a </s> per choice", () => {
  const stats = choiceStats();
  const g = encodeChoice(tok, ROW, 256, { choices: 2, stats, tokenization: "hf" });
  assert.ok(typeof g !== "string", String(g));
  assert.deepEqual(g.values, { label: 1 });
  assert.deepEqual(g.sequences.map((s) => pieces(s.ids)), [
    ["<s>", ...C, "</s>", "</s>", ...Q, "</s>", "</s>", "a", "Ġcook", "</s>"],
    ["<s>", ...C, "</s>", "</s>", ...Q, "</s>", "</s>", "a", "Ġpilot", "</s>"],
  ]);
  assert.deepEqual(stats, { truncatedExamples: 0, truncatedSequences: 0, truncatedTokens: 0 });
  assert.equal(encodeChoice(tok, ROW, 256, { tokenization: "hf" }), SKIP_CHOICE_COUNT); // 4 choices expected
});

Deno.test("choice: longest_first truncation over the three segments is counted", () => {
  // 14 = 6 specials + 8 tokens from [5, 4, 2]: drop from the longest, ties to the later:
  // [4, 4, 2] -> [4, 3, 2] -> [3, 3, 2].
  const stats = choiceStats();
  const g = encodeChoice(tok, ROW, 14, { choices: 2, stats, tokenization: "hf" });
  assert.ok(typeof g !== "string");
  assert.deepEqual(pieces(g.sequences[1].ids), [
    ...["<s>", "Tom", "Ġis", "Ġa", "</s>", "</s>", "What", "Ġis", "ĠTom", "</s>", "</s>"],
    ...["a", "Ġpilot", "</s>"],
  ]);
  assert.deepEqual(stats, { truncatedExamples: 1, truncatedSequences: 2, truncatedTokens: 6 });
  // Only one choice long enough to be cut.
  const one = choiceStats();
  encodeChoice(tok, { ...ROW, choices: ["a cook", "a very very good pilot"] }, 17, {
    choices: 2,
    stats: one,
    tokenization: "hf",
  });
  assert.deepEqual(one, { truncatedExamples: 1, truncatedSequences: 1, truncatedTokens: 3 });
});

Deno.test("choice: ChoiceExamples stores each group's sequences and label", () => {
  const ex = new ChoiceExamples(100, 2);
  ex.add({ sequences: [{ ids: [0, 5, 2] }, { ids: [0, 6, 7, 2] }], values: { label: 1 } });
  assert.throws(() => ex.add({ sequences: [{ ids: [0, 2] }], values: { label: 0 } }), /1 choices/);
  assert.throws(
    () => ex.add({ sequences: [{ ids: [0, 2] }, { ids: [0, 2] }], values: { label: 2 } }),
    /label 2/,
  );
  assert.throws(() => ex.add({ sequences: [{ ids: [0, 2] }, { ids: [0, 2] }] }), /label/);
  ex.add({ sequences: [{ ids: [0, 8, 2] }, { ids: [0, 9, 2] }], values: { label: 0 } });
  assert.equal(ex.length, 2);
  assert.equal(ex.seqs.length, 4);
  assert.deepEqual(ex.sequences(1), [2, 3]);
  assert.deepEqual([...ex.seqs.ids(1)], [0, 6, 7, 2]);
  assert.deepEqual(ex.groupOf(3), { group: 1, index: 1 });
  assert.equal(ex.label(0), 1);
  assert.equal(ex.maxLength(0), 4);
  assert.throws(() => ex.sequences(2), /group 2 of 2/);
});

Deno.test("choice: loading the bundled dev split", async () => {
  const rows: MultipleChoiceRow[] = [];
  for await (const r of readRows(DEV, "multiple-choice")) rows.push(...r);
  const labels = await choiceLabels(DEV);
  assert.deepEqual(labels, ["0", "1", "2", "3"]);
  const task = (maxLength: number) =>
    multipleChoiceTask().task({
      tok,
      maxLength,
      vocab: tok.vocabSize,
      padId: tok.padId,
      tokenization: "hf",
    }, labels);
  const { ex, report } = await loadSplit(task(256), DEV, QUIET);
  assert.equal(ex.choices, 4);
  assert.equal(report.rows, 150);
  assert.equal(report.kept, 150);
  assert.equal(skippedText(report), "");
  // The task's encoder does not count truncation: the same rows through encodeChoice with
  // counts, into the task's store.
  const counted = (maxLength: number, stats: ReturnType<typeof choiceStats>) => {
    const t = task(maxLength);
    return loadSplit(
      {
        schema: t.schema,
        store: t.store,
        encode: (row) => encodeChoice(tok, row, maxLength, { stats, tokenization: "hf" }),
      },
      DEV,
      QUIET,
    );
  };
  const stats = choiceStats();
  await counted(256, stats);
  assert.equal(stats.truncatedExamples, 0);
  rows.forEach((r, g) => {
    assert.equal(ex.label(g), r.label);
    const [a, b, c] = [r.context, r.question, r.choices[3]].map((t) => tok.encodeText(t));
    assert.deepEqual([...ex.seqs.ids(ex.sequences(g)[3])], tok.addSpecials([a, b, c]));
    // What decides the answer is in the text: the context names the right choice, no other.
    const words = ` ${r.context} `;
    r.choices.forEach((x, k) => assert.equal(words.includes(` ${x} `), k === r.label, x));
  });
  // A short max length cuts (and counts) every example, and nothing is longer.
  const short = choiceStats();
  await counted(16, short);
  const { ex: cut } = await loadSplit(task(16), DEV, QUIET);
  assert.equal(short.truncatedExamples, 150);
  assert.equal(short.truncatedSequences, 600);
  for (let i = 0; i < cut.seqs.length; i++) assert.ok(cut.seqs.ids(i).length <= 16);
});

// ---- on the GPU: the head on random features -------------------------------------------
const H = 16, PAD = 1, NC = 4;
/** What the synthetic examples' task is made with (its tokenizer and max length go unused). */
const ENC: Encoding = { tok, maxLength: 16, vocab: 40, padId: PAD, tokenization: "hf" };
const choice = () => multipleChoiceTask().task(ENC, ["0", "1", "2", "3"]);

function featuresOf(seed: number) {
  return (b: PaddedBatch): Tensor => {
    const v = new Float32Array(b.batch * b.seqLen * H);
    for (let i = 0; i < v.length; i++) {
      const id = b.inputIds[Math.floor(i / H)];
      v[i] = Math.sin(
        seed + 12.9898 * id + 78.233 * (i % H) + 0.37 * (Math.floor(i / H) % b.seqLen),
      );
    }
    return Tensor.from(v, [b.batch, b.seqLen, H]);
  };
}

/** 7 groups of 4 choices, random lengths 3 .. 9, random first tokens, random labels. */
function synthetic(rng: { int(lo: number, hi?: number): number }) {
  const ex = choice().store();
  assert.equal(ex.choices, NC);
  const labels: number[] = [];
  for (let g = 0; g < 7; g++) {
    const sequences = Array.from({ length: NC }, () => {
      const n = rng.int(3, 10);
      return { ids: [rng.int(3, 40), ...Array.from({ length: n - 2 }, () => rng.int(3, 40)), 2] };
    });
    labels.push(rng.int(0, NC));
    ex.add({ sequences, values: { label: labels[g] } });
  }
  return { ex, labels };
}

async function hostParams(head: ChoiceHead) {
  const p = new Map(head.namedParameters());
  assert.deepEqual([...p.keys()].sort(), ["classifier.bias", "classifier.weight"]);
  return {
    w: nd(await read(p.get("classifier.weight")!), [1, H]),
    b: nd(await read(p.get("classifier.bias")!), [1]),
  };
}

test("choice: the head is classifier(features at <s>) grouped by choices; PyTorch init", async (rng) => {
  const head = new ChoiceHead(H, 0.1, rng.int(0, 1000));
  const groups = 2, s = 5, n = groups * NC;
  const f = rng.randn([n * s * H]).data;
  const { w, b } = await hostParams(head);
  for (const v of [...w.data, ...b.data]) assert.ok(Math.abs(v) <= 1 / Math.sqrt(H));
  head.eval();
  const [got] = await run(() => [head.forward(Tensor.from(f, [n, s, H]), NC)]);
  const rows = nd(
    Float64Array.from({ length: n * H }, (_, k) => {
      const i = Math.floor(k / H);
      return f[i * s * H + (k % H)];
    }),
    [n, H],
  );
  assertClose(got, [...linear(rows, w, b).data], { atol: 1e-5, rtol: 1e-4 }, "choice scores");
  assert.equal(got.length, n);
  const t = Tensor.from(f, [n, s, H]);
  assert.throws(() => head.forward(t, 3), /groups of 3/);
  t.dispose();
  head.train();
  const [x, y] = await run(() => {
    const t = Tensor.from(f, [n, s, H]);
    return [head.forward(t, NC), head.forward(t, NC)];
  });
  assert.ok(x.some((v, i) => Math.abs(v - y[i]) > 1e-6), "dropout had no effect");
  head.dispose();
});

test("choice: the task's loss is the CE of each group's choice scores", async (rng) => {
  const head = new ChoiceHead(H, 0.1, rng.int(0, 1000)).eval();
  const { ex, labels } = synthetic(rng);
  const features = featuresOf(rng.int(0, 100));
  const indices = [4, 0, 6];
  const seqs = indices.flatMap((g) => ex.sequences(g));
  const [loss, scores] = await run(() => [
    choice().loss({ features, head, modules: [] }, ex, indices),
    head.forward(features(padBatch(ex.seqs, seqs, PAD)), NC),
  ]);
  const want = crossEntropy(nd(scores, [3, NC]), indices.map((g) => labels[g]));
  assertClose(loss, [want], { atol: 1e-5, rtol: 1e-4 }, "choice loss");
  head.dispose();
});

test("choice: the task's accuracy and predictions equal the metrics on independent scores", async (rng) => {
  const head = new ChoiceHead(H, 0.1, rng.int(0, 1000));
  const { ex, labels } = synthetic(rng);
  const features = featuresOf(rng.int(0, 100));
  // Independently: each group alone, in eval mode.
  head.eval();
  const scores: Float64Array[] = [];
  for (let g = 0; g < ex.length; g++) {
    const [s] = await run(
      () => [head.forward(features(padBatch(ex.seqs, ex.sequences(g), PAD)), NC)],
    );
    scores.push(s);
  }
  head.train();
  const got = await choice().evaluate({ features, head, modules: [] }, splitOf(ex), 3);
  assert.ok(head.training, "head left in eval mode");
  assert.ok(Math.abs(got.metrics.accuracy - choiceAccuracy(labels, scores)) < 1e-12);
  assert.deepEqual(got.predictions.map((p) => p.predicted), scores.map((s) => argmax(s)));
  // With gold = the predictions, accuracy is 1.
  const pred = scores.map((s) => argmax(s));
  assert.equal(choiceAccuracy(pred, scores), 1);
  // Groups without gold (label -1) are predicted and left out of the accuracy.
  const more = choice().store();
  for (let g = 0; g < ex.length; g++) {
    more.add({
      sequences: ex.sequences(g).map((i) => ({ ids: ex.seqs.ids(i) })),
      values: { label: labels[g] },
    });
  }
  for (let g = 0; g < 2; g++) {
    more.add({
      sequences: ex.sequences(g).map((i) => ({ ids: ex.seqs.ids(i) })),
      values: { label: -1 },
    });
  }
  const out = await choice().evaluate({ features, head, modules: [] }, splitOf(more), 3);
  assert.ok(Math.abs(out.metrics.accuracy - choiceAccuracy(labels, scores)) < 1e-12);
  assert.deepEqual(out.predictions.slice(ex.length).map((p) => [p.gold, p.predicted]), [
    [null, pred[0]],
    [null, pred[1]],
  ]);
  // Training skips them; evaluation encodes them.
  const row: MultipleChoiceRow = {
    context: "c .",
    question: "q ?",
    choices: ["a", "b", "c", "d"],
    label: -1,
  };
  const ctx = (train: boolean) => ({ train, dropped: new Map(), altered: new Map() });
  assert.equal(choice().encode(row, ctx(true)), SKIP_NO_ANSWER);
  assert.equal(
    (choice().encode(row, ctx(false)) as { values: { label: number } }).values.label,
    -1,
  );
  head.dispose();
});

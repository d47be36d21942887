// Entity typing: encoding with the `@` mention markers (hand-checked GPT-2 BPE pieces), skip
// reasons and dropped types, the type list, loading the bundled dev split, the typing head
// against a float64 host forward, entityTypingTask's BCE batch loss, and its evaluation against
// the downstream metrics on independently computed predictions. Features are random [b, s, H].
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { readRows } from "../../src/formats/arrow.ts";
import type { EntityTypingRow } from "../../src/formats/schemas.ts";
import { TypingHead } from "../../src/models/task_heads.ts";
import {
  encodeTyping,
  entityTypingTask,
  SKIP_LONG,
  SKIP_MENTION,
  SKIP_NO_TYPE,
  SKIP_NO_WORD,
  typeSet,
  type TypingExample,
  TypingExamples,
} from "../../src/tasks/entity_typing.ts";
import {
  looseMacro,
  looseMicro,
  strictAccuracy,
  typingPredictions,
} from "../../src/tasks/downstream_metrics.ts";
import { padBatch, type PaddedBatch } from "../../src/tasks/examples.ts";
import { type Encoding, loadSplit, skippedText } from "../../src/tasks/task.ts";
import { Tensor } from "../../src/tensor/mod.ts";
import { bceWithLogits, linear, nd } from "../reference.ts";
import { assertClose, read, run, test } from "../setup.ts";
import { QUIET, splitOf } from "./task_split.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const pieces = (ids: ArrayLike<number>) => Array.from(ids, (i) => tok.idToToken(i));

const TRAIN = "data/tasks/entity_typing_train.arrow", DEV = "data/tasks/entity_typing_dev.arrow";
const TYPES = new Map([["city", 0], ["location", 1], ["person", 2]]);
const ROW: EntityTypingRow = {
  text: "Barack Obama was born in Honolulu .",
  start: 7,
  end: 12,
  labels: ["person"],
};
// <s> Bar ack @ ĠObama @ Ġwas Ġborn Ġin ĠHonolulu Ġ. </s>
//  0   1   2  3    4    5   6    7     8      9     10   11
const FULL = [
  ...["<s>", "Bar", "ack", "@", "ĠObama", "@", "Ġwas", "Ġborn", "Ġin", "ĠHonolulu", "Ġ."],
  "</s>",
];

Deno.test("typing: encodeTyping wraps the mention in @ and reads the first one", () => {
  const e = encodeTyping(tok, ROW, TYPES, 64, undefined, "hf");
  assert.ok(typeof e !== "string", String(e));
  assert.deepEqual(pieces(e.ids), FULL);
  assert.deepEqual(e.values, { mention: 3 });
  assert.deepEqual(e.labels, [2]);
  // The last word as the mention, several types (sorted by id, repeats once).
  const city = encodeTyping(
    tok,
    { ...ROW, start: 25, end: 33, labels: ["location", "city", "location"] },
    TYPES,
    64,
    undefined,
    "hf",
  );
  assert.ok(typeof city !== "string");
  assert.deepEqual(pieces(city.ids), [
    ...["<s>", "Bar", "ack", "ĠObama", "Ġwas", "Ġborn", "Ġin", "@", "ĠHonolulu", "@", "Ġ."],
    "</s>",
  ]);
  assert.deepEqual(city.values, { mention: 7 });
  assert.deepEqual(city.labels, [0, 1]);
});

Deno.test("typing: a mention inside a word is marked on its character edges", () => {
  const e = encodeTyping(
    tok,
    { text: "the U.S.-based firm", start: 4, end: 8, labels: ["city"] },
    TYPES,
    64,
    undefined,
    "hf",
  );
  assert.ok(typeof e !== "string");
  assert.deepEqual(pieces(e.ids), [
    "<s>",
    "the",
    "@",
    "ĠU",
    ".",
    "S",
    ".",
    "@",
    "-",
    "based",
    "Ġfirm",
    "</s>",
  ]);
  assert.equal(e.values.mention, 2);
  // Offsets count code points: the emoji before "Obama" is one character, two UTF-16 units.
  const emoji = encodeTyping(
    tok,
    { text: "😀 Obama smiled", start: 2, end: 7, labels: ["person"] },
    TYPES,
    64,
    undefined,
    "hf",
  );
  assert.ok(typeof emoji !== "string");
  const p = pieces(emoji.ids);
  assert.deepEqual(p.slice(emoji.values.mention), ["@", "ĠObama", "@", "Ġsmiled", "</s>"]);
});

Deno.test("typing: skip reasons and dropped unknown types", () => {
  const dropped = new Map<string, number>();
  const e = encodeTyping(tok, { ...ROW, labels: ["person", "artist"] }, TYPES, 64, dropped, "hf");
  assert.ok(typeof e !== "string");
  assert.deepEqual(e.labels, [2]);
  assert.deepEqual([...dropped], [["artist", 1]]);
  // Only unknown types: skipped, and the types are still counted.
  assert.equal(
    encodeTyping(tok, { ...ROW, labels: ["artist"] }, TYPES, 64, dropped, "hf"),
    SKIP_NO_TYPE,
  );
  assert.deepEqual([...dropped], [["artist", 2]]);
  // maxLength 4 keeps positions 0..2 and </s>: the first @ (3) is cut.
  assert.equal(encodeTyping(tok, ROW, TYPES, 4, undefined, "hf"), SKIP_MENTION);
  // maxLength 5 keeps the first @ but not the mention nor the closing @: still encoded.
  for (const max of [5, 6, 7]) {
    const k = encodeTyping(tok, ROW, TYPES, max, undefined, "hf");
    assert.ok(typeof k !== "string", `max ${max}: ${k}`);
    assert.deepEqual(pieces(k.ids), [...FULL.slice(0, max - 1), "</s>"]);
    assert.equal(k.values.mention, 3);
  }
  assert.equal(
    encodeTyping(
      tok,
      { text: "a  b", start: 1, end: 3, labels: ["city"] },
      TYPES,
      64,
      undefined,
      "hf",
    ),
    SKIP_NO_WORD,
  );
});

Deno.test("typing: TypingExamples keeps each example's types and multi-hot targets", () => {
  const ex = new TypingExamples(tok.vocabSize, 3);
  ex.add({ ids: [0, 5, 2], values: { mention: 1 }, labels: [0, 2] } as never);
  assert.throws(() => ex.add({ ids: [0, 2], values: { mention: 1 } } as never), /no labels/);
  assert.throws(
    () => ex.add({ ids: [0, 2], values: { mention: 1 }, labels: [-1] } as never),
    /type id -1/,
  );
  assert.throws(() => ex.add({ ids: [0, 2], labels: [1] } as never), /mention is missing/);
  ex.add({ ids: [0, 6, 7, 2], values: { mention: 2 }, labels: [1] } as never);
  assert.equal(ex.length, 2);
  assert.deepEqual([...ex.labels(0)], [0, 2]);
  assert.deepEqual([...ex.labels(1)], [1]);
  assert.throws(() => ex.labels(2));
  assert.deepEqual([...ex.targets([1, 0])], [0, 1, 0, 1, 0, 1]);
  // Growth past the first block keeps earlier labels.
  for (let i = 0; i < 700; i++) {
    ex.add({ ids: [0, 2], values: { mention: 1 }, labels: [0, 1] } as never);
  }
  assert.deepEqual([...ex.labels(0)], [0, 2]);
  assert.deepEqual([...ex.labels(701)], [0, 1]);
});

Deno.test("typing: typeSet and loading the bundled dev split", async () => {
  const types = await typeSet(TRAIN);
  assert.equal(types.length, 11);
  assert.deepEqual(types, [...types].sort());
  const all = new Set<string>();
  const dev: EntityTypingRow[] = [];
  for await (const rows of readRows(TRAIN, "entity-typing")) {
    for (const r of rows) r.labels.forEach((l) => all.add(l));
  }
  for await (const rows of readRows(DEV, "entity-typing")) dev.push(...rows);
  assert.deepEqual(new Set(types), all);
  // Leave "person" out of the labels: its label is dropped, rows with no other type skipped.
  const kept = types.filter((t) => t !== "person");
  const map = new Map(kept.map((t, i) => [t, i]));
  const enc = (maxLength: number) => ({
    tok,
    maxLength,
    vocab: tok.vocabSize,
    padId: tok.padId,
    tokenization: "hf" as const,
  });
  const onlyPerson = dev.filter((r) => r.labels.every((l) => l === "person")).length;
  const persons = dev.filter((r) => r.labels.includes("person")).length;
  assert.ok(onlyPerson > 0 && onlyPerson < dev.length);
  const task = entityTypingTask().task(enc(256), kept);
  const { ex, report, dropped } = await loadSplit(task, DEV, { ...QUIET, train: true });
  assert.equal(ex.types, kept.length);
  assert.equal(report.rows, 150);
  assert.equal(report.skipped.get(SKIP_NO_TYPE), onlyPerson);
  assert.equal(report.kept, 150 - onlyPerson);
  assert.equal(ex.length, report.kept);
  assert.equal(dropped.get("person"), persons);
  assert.match(skippedText(report), new RegExp(`${onlyPerson} ${SKIP_NO_TYPE}`));
  let k = 0;
  for (const r of dev) {
    const want = r.labels.filter((l) => l !== "person").map((l) => map.get(l)!).sort((a, b) =>
      a - b
    );
    if (want.length === 0) continue;
    assert.deepEqual([...ex.labels(k)], [...new Set(want)]);
    assert.equal(tok.idToToken(ex.ids(k)[ex.value(k, "mention")]), "@");
    k++;
  }
  // Evaluation keeps every row: "person" numbered past the list (gold, never predicted).
  const every = await loadSplit(task, DEV, QUIET);
  assert.equal(every.report.kept, 150);
  const note = `gold type "person" not in the model's labels: never predicted`;
  assert.equal(every.report.altered.get(note), persons);
  dev.forEach((r, i) => {
    const want = [...new Set(r.labels.map((l) => l === "person" ? kept.length : map.get(l)!))];
    assert.deepEqual([...every.ex.labels(i)], want.sort((a, b) => a - b));
  });
  assert.throws(
    () => every.ex.targets([dev.findIndex((r) => r.labels.includes("person"))]),
    /past/,
  );
  // A row without gold (labels []) is predicted, never trained on.
  const ctx = (train: boolean) => ({ train, dropped: new Map(), altered: new Map() });
  assert.equal(task.encode({ ...dev[0], labels: [] }, ctx(true)), SKIP_NO_TYPE);
  const none = task.encode({ ...dev[0], labels: [] }, ctx(false)) as TypingExample;
  assert.deepEqual(none.labels, []);
  assert.deepEqual(Array.from(none.ids), Array.from(ex.ids(0)));
  // A short max length skips rows whose @ is cut, and counts them.
  const { report: cut } = await loadSplit(entityTypingTask().task(enc(6), types), DEV, QUIET);
  const cutCount = cut.skipped.get(SKIP_MENTION) ?? 0;
  assert.ok(cutCount > 0 && cutCount < 150, `${cutCount}`);
  assert.equal(cut.kept + cutCount, 150);
});

// The released FIGER loader (utils_figer.py) drops a row whose uncut `<s> .. @ m @ .. </s>`
// has max_seq_length or more tokens, in every split; it never truncates.
Deno.test("entity typing: FIGER leaves out rows of max length or more tokens, uncut", async () => {
  const types = await typeSet(TRAIN);
  const dev: EntityTypingRow[] = [];
  for await (const rows of readRows(DEV, "entity-typing")) dev.push(...rows);
  const full = dev.map((r) => encodeTyping(tok, r, new Map(types.map((t, i) => [t, i])), Infinity));
  const lengths = full.map((e) => typeof e === "string" ? 0 : e.ids.length);
  const max = [...lengths].sort((a, b) => a - b)[Math.floor(lengths.length / 2)];
  const long = lengths.filter((n) => n >= max).length;
  assert.ok(long > 0 && long < dev.length);
  const enc = { tok, maxLength: max, vocab: tok.vocabSize, padId: tok.padId };
  for (const train of [true, false]) {
    const s = await loadSplit(entityTypingTask({ figer: true }).task(enc, types), DEV, {
      ...QUIET,
      train,
    });
    assert.equal(s.report.skipped.get(SKIP_LONG), long);
    assert.equal(s.report.kept, dev.length - long);
    s.rows.forEach((r, i) =>
      assert.deepEqual(Array.from(s.ex.ids(i)), Array.from((full[r] as TypingExample).ids))
    );
  }
  // OpenEntity cuts instead: the same rows stay unless their @ is cut.
  const open = await loadSplit(entityTypingTask().task(enc, types), DEV, QUIET);
  assert.equal(open.report.skipped.get(SKIP_LONG), undefined);
  assert.ok(open.report.kept > dev.length - long);
});

// ---- on the GPU: the head on random features -------------------------------------------
const H = 16, NT = 5, PAD = 1;
const NAMES = ["t0", "t1", "t2", "t3", "t4"];
/** What the synthetic examples' task is made with (its tokenizer and max length go unused). */
const ENC: Encoding = { tok, maxLength: 16, vocab: 30, padId: PAD, tokenization: "hf" };
const typing = (figer = false) => entityTypingTask({ figer }).task(ENC, NAMES);

/** Examples of lengths 3 .. 10 (shuffled) with random mentions and 0..3 types. */
function synthetic(rng: { int(lo: number, hi?: number): number }) {
  const lengths = [3, 4, 5, 6, 7, 8, 9, 10];
  for (let i = lengths.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [lengths[i], lengths[j]] = [lengths[j], lengths[i]];
  }
  const ex = typing().store();
  const host = lengths.map((n) => {
    const ids = [0, ...Array.from({ length: n - 2 }, () => rng.int(3, 30)), 2];
    const labels = [...new Set(Array.from({ length: rng.int(1, 4) }, () => rng.int(0, NT)))].sort();
    const mention = rng.int(1, n - 1);
    ex.add({ ids, values: { mention }, labels } as never);
    return { ids, mention, labels };
  });
  return { ex, host };
}

/** Random features per batch, a deterministic function of the batch's ids (seeded by them). */
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

async function hostParams(head: TypingHead) {
  const p = new Map(head.namedParameters());
  assert.deepEqual([...p.keys()].sort(), [
    "dense.bias",
    "dense.weight",
    "out_proj.bias",
    "out_proj.weight",
  ]);
  const get = async (n: string) => nd(await read(p.get(n)!), p.get(n)!.shape);
  return {
    dw: await get("dense.weight"),
    db: await get("dense.bias"),
    ow: await get("out_proj.weight"),
    ob: await get("out_proj.bias"),
  };
}

test("typing: the head is out_proj(dense(features at @)) in eval mode; PyTorch init", async (rng) => {
  const head = new TypingHead(H, NT, 0.1, rng.int(0, 1000));
  const b = 3, s = 6;
  const f = rng.randn([b * s * H]).data;
  const mention = [4, 0, 5];
  const w = await hostParams(head);
  // PyTorch's Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  for (const [t, fanIn] of [[w.dw, H], [w.db, H], [w.ow, H], [w.ob, H]] as const) {
    assert.ok(t.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn)));
  }
  head.eval();
  const [got] = await run(() => [head.forward(Tensor.from(f, [b, s, H]), mention)]);
  const rows = nd(
    Float64Array.from(
      mention.flatMap((p, i) => [...f.slice((i * s + p) * H, (i * s + p + 1) * H)]),
    ),
    [b, H],
  );
  const want = linear(linear(rows, w.dw, w.db), w.ow, w.ob);
  assertClose(got, [...want.data], { atol: 1e-5, rtol: 1e-4 }, "typing logits");
  const t = Tensor.from(f, [b, s, H]);
  assert.throws(() => head.forward(t, [1, 2]), /2 marker positions/);
  assert.throws(() => head.forward(t, [1, 2, 6]), /outside 0 \.\. 5/);
  t.dispose();
  // Train mode: dropout changes the logits.
  head.train();
  const [x, y] = await run(() => {
    const t = Tensor.from(f, [b, s, H]);
    return [head.forward(t, mention), head.forward(t, mention)];
  });
  assert.ok(x.some((v, i) => Math.abs(v - y[i]) > 1e-6), "dropout had no effect");
  head.dispose();
});

test("typing: the task's loss is the BCE of the head's logits against the multi-hot types", async (rng) => {
  const head = new TypingHead(H, NT, 0.1, rng.int(0, 1000)).eval();
  const { ex, host } = synthetic(rng);
  const features = featuresOf(rng.int(0, 100));
  const indices = [5, 0, 3];
  const [loss, logits] = await run(() => [
    typing().loss({ features, head, modules: [] }, ex, indices),
    head.forward(features(padBatchOf(ex, indices)), indices.map((i) => host[i].mention)),
  ]);
  const targets = indices.flatMap((i) =>
    Array.from({ length: NT }, (_, t) => host[i].labels.includes(t) ? 1 : 0)
  );
  const want = bceWithLogits(nd(logits, [3, NT]), nd(Float64Array.from(targets), [3, NT]));
  assertClose(loss, [want], { atol: 1e-5, rtol: 1e-4 }, "typing loss");
  head.dispose();
});

const padBatchOf = (ex: TypingExamples, indices: number[]) => padBatch(ex, indices, PAD);

test("typing: the task's evaluate equals the metrics on independently computed predictions", async (rng) => {
  const head = new TypingHead(H, NT, 0.1, rng.int(0, 1000));
  const { ex, host } = synthetic(rng);
  const features = featuresOf(rng.int(0, 100));
  // Independently: eval mode, examples by increasing length in batches of 3, host thresholds.
  head.eval();
  const order = host.map((_, i) => i).sort((a, b) => host[a].ids.length - host[b].ids.length);
  const logits = new Float64Array(host.length * NT);
  for (let k = 0; k < order.length; k += 3) {
    const idx = order.slice(k, k + 3);
    const [l] = await run(() => [head.forward(
      features(padBatchOf(ex, idx)),
      idx.map((i) => host[i].mention),
    )]);
    idx.forEach((i, r) => logits.set(l.subarray(r * NT, (r + 1) * NT), i * NT));
  }
  head.train();
  const all = host.map((_, i) => i);
  for (const forceArgmax of [false, true]) {
    const gold = host.map((h) => h.labels);
    const pred = all.map((i) => {
      const row = [...logits.subarray(i * NT, (i + 1) * NT)];
      const top = Math.max(...row);
      return row.flatMap((v, t) => v > 0 || (forceArgmax && v === top) ? [t] : []);
    });
    // forceArgmax is the task's FIGER setting.
    const { metrics: got } = await typing(forceArgmax).evaluate(
      { features, head, modules: [] },
      splitOf(ex),
      3,
    );
    assert.ok(head.training, "head left in eval mode");
    const macro = looseMacro(gold, pred), micro = looseMicro(gold, pred);
    const want = {
      strict: strictAccuracy(gold, pred),
      macro_p: macro.p,
      macro_r: macro.r,
      macro_f1: macro.f1,
      micro_p: micro.p,
      micro_r: micro.r,
      micro_f1: micro.f1,
    };
    for (const [k, v] of Object.entries(want)) {
      assert.ok(
        Math.abs(got[k as keyof typeof got] - v) < 1e-9,
        `${forceArgmax} ${k}: ${got[k as keyof typeof got]} vs ${v}`,
      );
    }
    // The host predictions agree with typingPredictions.
    all.forEach((i) =>
      assert.deepEqual(
        pred[i],
        typingPredictions(logits.subarray(i * NT, (i + 1) * NT), NT, { forceArgmax }),
      )
    );
    // Examples without gold (labels []) are predicted and left out of the metrics.
    const more = typing(forceArgmax).store();
    const add = (h: (typeof host)[number], labels = h.labels) =>
      more.add({ ids: h.ids, values: { mention: h.mention }, labels } as never);
    host.forEach((h) => add(h));
    host.slice(0, 2).forEach((h) => add(h, []));
    const out = await typing(forceArgmax).evaluate(
      { features, head, modules: [] },
      splitOf(more),
      3,
    );
    for (const [k, v] of Object.entries(want)) assert.ok(Math.abs(out.metrics[k] - v) < 1e-9, k);
    out.predictions.slice(host.length).forEach((p, i) => {
      assert.equal(p.gold, null);
      assert.deepEqual(p.predicted, pred[i].map((t) => NAMES[t]));
    });
  }
  head.dispose();
});

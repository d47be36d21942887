// Span QA: the `<s> q </s></s> p </s>` layout (hand-checked GPT-2 BPE pieces), answer spans
// (word-boundary matching, an answer inside a word, the first occurrence, no answer -> <s>),
// only_last truncation and its counts, loading the bundled splits, the span head against a
// float64 host forward, spanQaTask's start/end CE loss with padding masked, and evaluation (best
// span across paragraphs, the answer text) against qaScores on independent predictions.
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { readRows } from "../../src/formats/arrow.ts";
import type { SpanQaRow } from "../../src/formats/schemas.ts";
import { SpanHead } from "../../src/models/task_heads.ts";
import {
  encodeSpanQa,
  findAnswer,
  MAX_ANSWER_LENGTH,
  predictSpanQa,
  SKIP_NO_ANSWERS,
  SKIP_QUESTION_LONG,
  SPAN_LABELS,
  SpanQaExamples,
  spanQaTask,
  spanStats,
  SpanTaskHead,
} from "../../src/tasks/span_qa.ts";
import { type Encoding, loadSplit } from "../../src/tasks/task.ts";
import { normalizeAnswer, qaScores } from "../../src/tasks/downstream_metrics.ts";
import { padBatch, type PaddedBatch } from "../../src/tasks/examples.ts";
import { Tensor } from "../../src/tensor/mod.ts";
import { crossEntropy, linear, nd } from "../reference.ts";
import { assertClose, read, run, test } from "../setup.ts";
import { QUIET, splitOf } from "./task_split.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const pieces = (ids: ArrayLike<number>) => Array.from(ids, (i) => tok.idToToken(i));
const TRAIN = "data/tasks/span_qa_train.arrow", DEV = "data/tasks/span_qa_dev.arrow";
const PAD = 1;
/** What the task is made with: the bundled splits at the released max length. */
const ENC: Encoding = { tok, maxLength: 256, vocab: tok.vocabSize, padId: PAD, tokenization: "hf" };
const span = () => spanQaTask().task(ENC, SPAN_LABELS);

const Q = ["<s>", "who", "Ġfounded", "ĠTor", "cor", "p", "Ġ?", "</s>", "</s>"];
const ROW: SpanQaRow = {
  question: "who founded Torcorp ?",
  paragraphs: [
    "Torcorp was founded by Kelric Penett .",
    "the U.S.-based firm hired U.S. staff",
    "concatenate the Cat and the cat",
    "no answer here",
  ],
  answers: ["kelric penett", "u.s.", "cat"],
};

Deno.test("span: findAnswer matches case-insensitively on word boundaries, first wins", () => {
  assert.deepEqual(findAnswer("Torcorp was founded by Kelric  Penett .", ["kelric penett"]), [
    23,
    37,
  ]);
  assert.equal(findAnswer("concatenate", ["cat"]), null);
  assert.deepEqual(findAnswer("concatenate the Cat and the cat", ["cat"]), [16, 19]);
  // "U.S." followed by "-" is on a boundary; the earliest over all answers wins.
  assert.deepEqual(findAnswer("the U.S.-based firm hired U.S. staff", ["staff", "u.s."]), [4, 8]);
  assert.equal(findAnswer("anything", ["", "  "]), null);
});

Deno.test("span: encodeSpanQa layout, answer targets and the word column", () => {
  const stats = spanStats();
  const g = encodeSpanQa(tok, ROW, 256, { train: true, stats, tokenization: "hf" });
  assert.ok(typeof g !== "string", String(g));
  const s = g.sequences;
  assert.deepEqual(pieces(s[0].ids), [
    ...Q,
    ...["Tor", "cor", "p", "Ġwas", "Ġfounded", "Ġby", "ĠKel", "ric", "ĠPen", "ett", "Ġ."],
    "</s>",
  ]);
  // "Kelric Penett" = positions 15 .. 18.
  assert.deepEqual(s[0].values, { start: 15, end: 18 });
  assert.deepEqual(
    Array.from(s[0].tokens!.word),
    [...Array(9).fill(-1), 0, 0, 0, 1, 2, 3, 4, 4, 5, 5, 6, -1],
  );
  // The answer inside "U.S.-based" is cut at its character edges: "U.S." is its own word.
  assert.deepEqual(pieces(s[1].ids).slice(9, 16), ["the", "ĠU", ".", "S", ".", "-", "based"]);
  assert.deepEqual(s[1].values, { start: 10, end: 13 });
  // Not inside "concatenate"; the first of "Cat" and "cat".
  assert.deepEqual(pieces(s[2].ids).slice(13, 18), ["Ġthe", "ĠCat", "Ġand", "Ġthe", "Ġcat"]);
  assert.deepEqual(s[2].values, { start: 14, end: 14 });
  // No answer: <s>.
  assert.deepEqual(s[3].values, { start: 0, end: 0 });
  assert.deepEqual(stats, {
    paragraphs: 4,
    truncatedParagraphs: 0,
    answered: 3,
    answerCut: 0,
    unanswered: 0,
  });
  // The texts for evaluation.
  const ex = new SpanQaExamples(tok.vocabSize);
  ex.add(g);
  assert.equal(ex.spanText(0, 15, 18), "Kelric Penett");
  assert.equal(ex.spanText(0, 16, 17), "Kelric Penett"); // whole words
  assert.equal(ex.spanText(1, 10, 13), "U.S.");
  assert.equal(ex.spanText(2, 14, 17), "Cat and the cat");
  assert.throws(() => ex.spanText(0, 8, 10), /not inside its paragraph/);
  assert.deepEqual(ex.answers(0), ROW.answers);
  // Eval mode: no search, no cut, targets 0; "U.S.-based" stays one word.
  const e = encodeSpanQa(tok, ROW, 256, { train: false, tokenization: "hf" });
  assert.ok(typeof e !== "string");
  assert.ok(e.sequences.every((q) => q.values!.start === 0 && q.values!.end === 0));
  assert.deepEqual(e.paragraphs[1].starts, [0, 4, 15, 20, 26, 31]);
  assert.deepEqual(pieces(e.sequences[0].ids), pieces(s[0].ids));
});

Deno.test("span: only_last truncation, answers cut by it, and a question too long", () => {
  // Budget 18 - 4 - 6 = 8 paragraph tokens: "Kelric Penett" (aligned 6 .. 9) is cut.
  const stats = spanStats();
  const g = encodeSpanQa(tok, ROW, 18, { train: true, stats, tokenization: "hf" });
  assert.ok(typeof g !== "string");
  assert.deepEqual(pieces(g.sequences[0].ids), [
    ...Q,
    ...["Tor", "cor", "p", "Ġwas", "Ġfounded", "Ġby", "ĠKel", "ric"],
    "</s>",
  ]);
  assert.ok(g.sequences.every((s) => s.ids.length <= 18));
  assert.deepEqual(g.sequences[0].values, { start: 0, end: 0 });
  const w = g.sequences[0].tokens!.word;
  assert.equal(w[w.length - 1], -1);
  assert.deepEqual(g.sequences[1].values, { start: 10, end: 13 }); // still inside
  assert.deepEqual(stats, {
    paragraphs: 4,
    truncatedParagraphs: 3,
    answered: 2,
    answerCut: 1,
    unanswered: 0,
  });
  // Exactly fitting the answer keeps it: budget 10 = aligned position 10 - 1 of "ett".
  const fit = encodeSpanQa(tok, ROW, 20, { train: true, tokenization: "hf" });
  assert.ok(typeof fit !== "string");
  assert.deepEqual(fit.sequences[0].values, { start: 15, end: 18 });
  // Only the question and specials: no room.
  assert.equal(encodeSpanQa(tok, ROW, 10, { train: true, tokenization: "hf" }), SKIP_QUESTION_LONG);
  const none = spanStats();
  encodeSpanQa(tok, { ...ROW, answers: ["zebra"] }, 256, {
    train: true,
    stats: none,
    tokenization: "hf",
  });
  assert.equal(none.unanswered, 1);
});

Deno.test("span: loading the bundled splits finds every answer", async () => {
  for (const path of [TRAIN, DEV]) {
    const rows: SpanQaRow[] = [];
    for await (const r of readRows(path, "span-qa")) rows.push(...r);
    const { ex, report } = await loadSplit(span(), path, { ...QUIET, train: true });
    assert.equal(report.kept, rows.length);
    // The task's encoder does not count: the same rows through encodeSpanQa with counts.
    const stats = spanStats();
    await loadSplit(
      {
        schema: "span-qa",
        store: span().store,
        encode: (row, ctx) =>
          encodeSpanQa(tok, row, 256, { train: ctx.train, stats, tokenization: "hf" }),
      },
      path,
      { ...QUIET, train: true },
    );
    assert.equal(stats.unanswered, 0);
    assert.equal(stats.answerCut, 0);
    assert.ok(stats.answered >= rows.length);
    let answered = 0;
    for (let i = 0; i < ex.seqs.length; i++) {
      const start = ex.seqs.value(i, "start"), end = ex.seqs.value(i, "end");
      if (start === 0) continue;
      answered++;
      const { group } = ex.groupOf(i);
      assert.equal(
        normalizeAnswer(ex.spanText(i, start, end)),
        normalizeAnswer(rows[group].answers[0]),
      );
    }
    assert.equal(answered, stats.answered);
  }
});

// ---- on the GPU: the head on random features -------------------------------------------
const H = 16;

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

async function devExamples(n: number, train: boolean) {
  return (await loadSplit(span(), DEV, { ...QUIET, limit: n, train })).ex;
}

test("span: the head is qa_outputs(features); PyTorch init", async (rng) => {
  const head = new SpanHead(H, rng.int(0, 1000));
  const p = new Map(head.namedParameters());
  assert.deepEqual([...p.keys()].sort(), ["qa_outputs.bias", "qa_outputs.weight"]);
  const w = nd(await read(p.get("qa_outputs.weight")!), [2, H]);
  const b = nd(await read(p.get("qa_outputs.bias")!), [2]);
  for (const v of [...w.data, ...b.data]) assert.ok(Math.abs(v) <= 1 / Math.sqrt(H));
  const f = rng.randn([2 * 3 * H]).data;
  const [got] = await run(() => [head.forward(Tensor.from(f, [2, 3, H]))]);
  assertClose(got, [...linear(nd(f, [6, H]), w, b).data], { atol: 1e-5, rtol: 1e-4 }, "span");
  head.dispose();
});

test("span: the task's loss is the mean of start and end CE over each sequence's tokens", async (rng) => {
  const head = new SpanTaskHead(H, rng.int(0, 1000));
  const ex = await devExamples(3, true);
  const features = featuresOf(rng.int(0, 100));
  const seqs = [0, 4, 8, 2]; // answered and unanswered paragraphs, different lengths
  const lens = seqs.map((i) => ex.seqs.ids(i).length);
  assert.ok(new Set(lens).size > 1, "all the same length: no padding tested");
  const [loss, logits] = await run(() => [
    span().loss({ features, head, modules: [] }, ex, seqs),
    head.forward(features(padBatch(ex.seqs, seqs, PAD))),
  ]);
  const s = Math.max(...lens);
  let want = 0;
  for (const k of [0, 1]) {
    const key = k === 0 ? "start" : "end";
    let sum = 0;
    seqs.forEach((i, r) => {
      const row = Float64Array.from({ length: lens[r] }, (_, p) => logits[(r * s + p) * 2 + k]);
      sum += crossEntropy(nd(row, [1, lens[r]]), [ex.seqs.value(i, key)]);
    });
    want += sum / seqs.length / 2;
  }
  assert.ok(seqs.some((i) => ex.seqs.value(i, "start") > 0), "no answered paragraph");
  assertClose(loss, [want], { atol: 1e-5, rtol: 1e-4 }, "span loss");
  head.dispose();
});

test("span: the task's evaluate equals qaScores on independently computed predictions", async (rng) => {
  const head = new SpanTaskHead(H, rng.int(0, 1000));
  const ex = await devExamples(6, false);
  assert.equal(span().trainSize!(ex), ex.seqs.length);
  const features = featuresOf(rng.int(0, 100));
  assert.equal(MAX_ANSWER_LENGTH, 30);
  for (const maxLen of [30, 2]) {
    // Independently: each paragraph alone; brute-force spans over paragraph tokens.
    const pred: string[] = [];
    for (let g = 0; g < ex.length; g++) {
      let best = { score: -Infinity, text: "" };
      for (const i of ex.sequences(g)) {
        const [l] = await run(() => [head.forward(features(padBatch(ex.seqs, [i], PAD)))]);
        const word = ex.seqs.tokens(i, "word");
        const { group, index } = ex.groupOf(i);
        const para = ex.paragraph(group, index);
        for (let a = 0; a < word.length; a++) {
          for (let b = a; b < Math.min(word.length, a + maxLen); b++) {
            if (word[a] < 0 || word[b] < 0) continue;
            const score = l[2 * a] + l[2 * b + 1];
            if (score > best.score) {
              best = { score, text: para.text.slice(para.starts[word[a]], para.ends[word[b]]) };
            }
          }
        }
      }
      pred.push(best.text);
    }
    const opts = { batchSize: 4, padId: PAD, maxAnswerLength: maxLen };
    const got = await predictSpanQa(features, head, ex, opts);
    assert.deepEqual(got, pred);
    if (maxLen === 2) assert.ok(got.every((p) => tok.encodeText(" " + p).length <= 4), `${got}`);
    assert.ok(head.training, "head left in eval mode");
    // The task evaluates with the longest span MAX_ANSWER_LENGTH (30): the first case only.
    if (maxLen !== MAX_ANSWER_LENGTH) continue;
    const out = await span().evaluate({ features, head, modules: [] }, splitOf(ex), 4);
    assert.deepEqual(out.predictions.map((p) => p.predicted), pred);
    const scores = out.metrics;
    const want = qaScores(pred.map((p, g) => ({ pred: p, golds: ex.answers(g) })));
    assert.ok(Math.abs(scores.em - want.em) < 1e-12 && Math.abs(scores.f1 - want.f1) < 1e-12);
    assert.ok(head.training, "head left in eval mode");
    // Questions without gold (answers []) are predicted and left out of the scores; training
    // skips them.
    const rows: SpanQaRow[] = [];
    for await (const r of readRows(DEV, "span-qa")) rows.push(...r);
    const ctx = (train: boolean) => ({ train, dropped: new Map(), altered: new Map() });
    const task = span(), some = task.store();
    assert.equal(task.encode({ ...rows[0], answers: [] }, ctx(true)), SKIP_NO_ANSWERS);
    rows.slice(0, ex.length).forEach((r, g) => {
      some.add(task.encode(g < 2 ? { ...r, answers: [] } : r, ctx(false)) as never);
    });
    const part = await task.evaluate({ features, head, modules: [] }, splitOf(some), 4);
    assert.deepEqual(part.predictions.map((p) => p.predicted), pred);
    assert.deepEqual(part.predictions.slice(0, 2).map((p) => p.gold), [null, null]);
    const rest = qaScores(pred.slice(2).map((p, g) => ({ pred: p, golds: ex.answers(g + 2) })));
    assert.ok(Math.abs(part.metrics.em - rest.em) < 1e-12);
    assert.ok(Math.abs(part.metrics.f1 - rest.f1) < 1e-12);
  }
  head.dispose();
});

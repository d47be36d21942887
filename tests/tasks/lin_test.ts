// linAdapter task: head positions on hand-checked GPT-2 BPE pieces, truncation, and linTask's
// "ce" / "bce" batch losses and UAS against independent float64 / host computations on a tiny
// model.
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { LinHead } from "../../src/models/kadapter_heads.ts";
import { padBatch } from "../../src/tasks/examples.ts";
import { encodeLin, linTask, SKIP_NO_LABEL } from "../../src/tasks/lin.ts";
import { IGNORE } from "../../src/tasks/metrics.ts";
import type { Encoding } from "../../src/tasks/task.ts";
import { bceWithLogits, crossEntropy } from "../reference.ts";
import { assertClose, run, test } from "../setup.ts";
import { splitOf } from "./task_split.ts";
import { H, PAD, tinyInfusion } from "./tiny_infusion.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const pieces = (ids: ArrayLike<number>) => Array.from(ids, (i) => tok.idToToken(i));

// <s> K ad apter Ġinf uses ĠRo BER Ta Ġ. </s>
//  0  1 2  3     4    5    6   7   8  9   10
const WORDS = ["Kadapter", "infuses", "RoBERTa", "."];
const X = IGNORE;

Deno.test("lin: each word's first subword points at its head's first subword", () => {
  assert.equal(IGNORE, -100);
  const e = encodeLin(tok, { tokens: WORDS, heads: [2, 0, 2, 2] }, 64, "hf");
  assert.ok(typeof e !== "string", String(e));
  assert.deepEqual(pieces(e.ids), [
    ...["<s>", "K", "ad", "apter", "Ġinf", "uses", "ĠRo", "BER", "Ta", "Ġ.", "</s>"],
  ]);
  assert.deepEqual(Array.from(e.tokens!.head), [X, 4, X, X, 0, X, 4, X, X, 4, X]);
  assert.equal(e.values, undefined);
  const chain = encodeLin(tok, { tokens: WORDS, heads: [0, 1, 4, 2] }, 64, "hf");
  assert.ok(typeof chain !== "string");
  assert.deepEqual(Array.from(chain.tokens!.head), [X, 0, X, X, 1, X, 9, X, X, 4, X]);
});

Deno.test("lin: truncation ignores dependents of cut heads; no label left is skipped", () => {
  // maxLength 9 keeps positions 0..7 and </s>: "." (9) is cut, "RoBERTa" keeps ĠRo BER.
  const e = encodeLin(tok, { tokens: WORDS, heads: [2, 0, 4, 2] }, 9, "hf");
  assert.ok(typeof e !== "string", String(e));
  assert.deepEqual(pieces(e.ids), [
    "<s>",
    "K",
    "ad",
    "apter",
    "Ġinf",
    "uses",
    "ĠRo",
    "BER",
    "</s>",
  ]);
  // RoBERTa's head "." was cut: ignored; the others keep their heads.
  assert.deepEqual(Array.from(e.tokens!.head), [X, 4, X, X, 0, X, X, X, X]);
  // Only "Kadapter" is left (maxLength 4: <s> K ad </s>) and its head is cut.
  assert.equal(encodeLin(tok, { tokens: WORDS, heads: [2, 0, 2, 2] }, 4, "hf"), SKIP_NO_LABEL);
  // ...but as the root it is still labelled.
  const root = encodeLin(tok, { tokens: WORDS, heads: [0, 1, 1, 1] }, 4, "hf");
  assert.ok(typeof root !== "string");
  assert.deepEqual(Array.from(root.tokens!.head), [X, 0, X, X]);
  // No word at all.
  assert.equal(encodeLin(tok, { tokens: WORDS, heads: [2, 0, 2, 2] }, 2, "hf"), SKIP_NO_LABEL);
  assert.throws(
    () => encodeLin(tok, { tokens: WORDS, heads: [2, 0, 2] }, 64, "hf"),
    /3 heads for 4/,
  );
  assert.throws(() => encodeLin(tok, { tokens: WORDS, heads: [2, 0, 5, 2] }, 64, "hf"), /head 5/);
});

// ---- on the GPU: a tiny encoder, adapter and head on synthetic examples -------------------
const MAX = 10;
/** What the synthetic examples' task is made with (its tokenizer and max length go unused). */
const ENC: Encoding = { tok, maxLength: MAX, vocab: 30, padId: PAD, tokenization: "hf" };

const tinyModel = (seed: number, dropout: number) =>
  tinyInfusion(
    seed,
    (hs) => new LinHead({ hidden: H, labels: MAX, dropout, layerNormEps: 1e-5 }, hs),
    dropout,
  );

/** Examples of distinct lengths 3 .. 10 in random order; heads at random earlier/later tokens. */
function synthetic(rng: { int(lo: number, hi?: number): number }) {
  const lengths = [3, 4, 5, 6, 7, 8, 9, 10];
  for (let i = lengths.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [lengths[i], lengths[j]] = [lengths[j], lengths[i]];
  }
  const ex = linTask(ENC, "ce").store();
  const host = lengths.map((n) => {
    const ids = [0, ...Array.from({ length: n - 2 }, () => rng.int(3, 30)), 2];
    // <s>, </s> and about a third of the rest unlabelled; position 1 always labelled.
    const head = ids.map((_, s) =>
      s === 0 || s === n - 1 || (s > 1 && rng.int(0, 3) === 0) ? IGNORE : rng.int(0, n - 1)
    );
    ex.add({ ids, tokens: { head } });
    return { ids, head };
  });
  return { ex, host };
}

/** Host gold for a padded batch: each row's heads, IGNORE past its length. */
function goldOf(host: { head: number[] }[], indices: number[], seqLen: number): number[] {
  return indices.flatMap((i) =>
    Array.from({ length: seqLen }, (_, s) => host[i].head[s] ?? IGNORE)
  );
}

test("lin: linTask's 'ce' and 'bce' losses match float64 losses of the head's logits", async (rng) => {
  const { model, adapter, head, dispose } = tinyModel(rng.int(0, 1000), 0.1);
  adapter.eval();
  head.eval();
  const { ex, host } = synthetic(rng);
  const indices = [6, 1, 4];
  const seqLen = Math.max(...indices.map((i) => host[i].ids.length));
  const [ce, bce, logits] = await run(() => {
    const b = padBatch(ex, indices, PAD);
    const f = model.features(b);
    return [
      linTask(ENC, "ce").loss({ model, head }, ex, indices),
      linTask(ENC, "bce").loss({ model, head }, ex, indices),
      head.forward(f.last, f.adapter, f.mask),
    ];
  });
  assert.equal(logits.length, indices.length * seqLen * MAX);
  const gold = goldOf(host, indices, seqLen);
  const wantCe = crossEntropy({ shape: [gold.length, MAX], data: logits }, gold);
  assertClose(ce, [wantCe], { atol: 1e-5, rtol: 1e-4 }, "ce");
  // BCE over the labelled rows x all MAX columns against one-hot head positions.
  const rows = gold.flatMap((g, r) => g === IGNORE ? [] : [r]);
  const x = new Float64Array(rows.length * MAX), y = new Float64Array(rows.length * MAX);
  rows.forEach((r, k) => {
    x.set(logits.subarray(r * MAX, (r + 1) * MAX), k * MAX);
    y[k * MAX + gold[r]] = 1;
  });
  const wantBce = bceWithLogits({ shape: [rows.length, MAX], data: x }, {
    shape: [rows.length, MAX],
    data: y,
  });
  assertClose(bce, [wantBce], { atol: 1e-5, rtol: 1e-4 }, "bce");
  assert.ok(Math.abs(wantBce - wantCe) > 1e-3, "ce and bce should differ");
  dispose();
});

test("lin: linTask's evaluate: UAS from argmax logits over labelled tokens, eval mode", async (rng) => {
  const { model, adapter, head, dispose } = tinyModel(rng.int(0, 1000), 0.1);
  const { ex, host } = synthetic(rng);
  const batchSize = 3;
  adapter.eval();
  head.eval();
  const order = host.map((_, i) => i).sort((a, b) => host[a].ids.length - host[b].ids.length);
  let labelled = 0, right = 0;
  for (let k = 0; k < order.length; k += batchSize) {
    const idx = order.slice(k, k + batchSize);
    const seqLen = Math.max(...idx.map((i) => host[i].ids.length));
    const [logits] = await run(() => {
      const f = model.features(padBatch(ex, idx, PAD));
      return [head.forward(f.last, f.adapter, f.mask)];
    });
    idx.forEach((i, r) => {
      host[i].head.forEach((g, s) => {
        if (g === IGNORE) return;
        const at = (r * seqLen + s) * MAX;
        const row = Array.from(logits.subarray(at, at + MAX));
        labelled++;
        if (row.indexOf(Math.max(...row)) === g) right++;
      });
    });
  }
  assert.ok(labelled > 8);
  adapter.train();
  head.train();
  const task = linTask(ENC, "ce");
  const first = await task.evaluate({ model, head }, splitOf(ex), batchSize);
  assert.ok(adapter.training && head.training, "modules left in eval mode");
  const second = await task.evaluate({ model, head }, splitOf(ex), batchSize);
  assert.deepEqual(second, first);
  const { uas } = first.metrics;
  assert.ok(Math.abs(uas - right / labelled) < 1e-12, `uas ${uas} vs ${right}/${labelled}`);
  dispose();
});

// The packed example store: round trips past the initial capacity, id storage width, errors,
// and batch padding (to the chosen examples' longest, with mask, pad id and row order).
import assert from "node:assert/strict";
import { Examples, padBatch, padTokens } from "../../src/tasks/examples.ts";
import { Rng } from "../../src/nn/init.ts";

Deno.test("examples: ids, token columns and values round trip past the initial capacity", () => {
  const rng = new Rng(12345);
  const ex = new Examples(50265, ["head", "tag"], ["subj", "label"]);
  const kept: { ids: number[]; head: number[]; tag: number[]; subj: number; label: number }[] = [];
  let total = 0;
  for (let k = 0; k < 500; k++) {
    const n = 1 + rng.int(40);
    const ids = Array.from({ length: n }, () => rng.int(50265));
    const head = Array.from({ length: n }, () => rng.int(200) - 100);
    const tag = Array.from({ length: n }, () => rng.int(2 ** 31) - 2 ** 30);
    const e = { ids, head, tag, subj: rng.int(1000) - 500, label: rng.int(2 ** 31) };
    kept.push(e);
    ex.add({ ids, tokens: { head, tag }, values: { subj: e.subj, label: e.label } });
    total += n;
  }
  // 500 examples of 20.5 tokens on average: ~10k tokens, well past the first 1024.
  assert.ok(total > 4096, `${total} tokens`);
  assert.equal(ex.length, 500);
  assert.equal(ex.tokenCount, total);
  kept.forEach((e, i) => {
    assert.deepEqual([...ex.ids(i)], e.ids, `ids ${i}`);
    assert.deepEqual([...ex.tokens(i, "head")], e.head, `head ${i}`);
    assert.deepEqual([...ex.tokens(i, "tag")], e.tag, `tag ${i}`);
    assert.equal(ex.value(i, "subj"), e.subj);
    assert.equal(ex.value(i, "label"), e.label);
  });
  // One example larger than twice the capacity at once.
  const big = Array.from({ length: 5000 }, (_, i) => i % 50265);
  ex.add({ ids: big, tokens: { head: big, tag: big }, values: { subj: 1, label: 2 } });
  assert.deepEqual([...ex.ids(500)], big);
  assert.deepEqual([...ex.tokens(500, "tag")], big);
  assert.deepEqual([...ex.ids(499)], kept[499].ids);
});

Deno.test("examples: 16-bit ids up to RoBERTa's vocabulary, 32-bit past 65,536", () => {
  const small = new Examples(50265);
  small.add({ ids: [0, 50264, 2, 65535] });
  assert.ok(small.ids(0) instanceof Uint16Array);
  assert.deepEqual([...small.ids(0)], [0, 50264, 2, 65535]);
  const edge = new Examples(65536);
  edge.add({ ids: [65535] });
  assert.deepEqual([...edge.ids(0)], [65535]);
  const large = new Examples(70000);
  large.add({ ids: [0, 69999, 65536, 2] });
  assert.ok(large.ids(0) instanceof Int32Array);
  assert.deepEqual([...large.ids(0)], [0, 69999, 65536, 2]);
});

Deno.test("examples: missing value, wrong-length token column, index out of range", () => {
  const ex = new Examples(100, ["head"], ["label"]);
  assert.throws(
    () => ex.add({ ids: [0, 5, 2], tokens: { head: [1, 2, 3] } }),
    /example value label is missing/,
  );
  assert.throws(
    () => ex.add({ ids: [0, 5, 2], tokens: { head: [1, 2, 3] }, values: { label: 1.5 } }),
    /example value label is missing/,
  );
  assert.throws(
    () => ex.add({ ids: [0, 5, 2], tokens: { head: [1, 2] }, values: { label: 1 } }),
    /example column head: needs 3 values/,
  );
  assert.throws(() => ex.add({ ids: [0, 5, 2], values: { label: 1 } }), /column head/);
  assert.equal(ex.length, 0);
  assert.equal(ex.tokenCount, 0);
  const ok = new Examples(100, ["head"], ["label"]);
  ok.add({ ids: [0, 7, 2], tokens: { head: [-100, 0, -100] }, values: { label: 3 } });
  assert.equal(ok.length, 1);
  for (const i of [-1, 1, 2, NaN]) {
    assert.throws(() => ok.ids(i), /example .* of 1/, `ids(${i})`);
    assert.throws(() => ok.tokens(i, "head"), /of 1/);
    assert.throws(() => ok.value(i, "label"), /of 1/);
  }
  assert.throws(() => ok.tokens(0, "nope"), /no column nope/);
  assert.throws(() => ok.value(0, "nope"), /no column nope/);
});

Deno.test("examples: a refused add leaves nothing behind; fractional indices are refused", () => {
  const ex = new Examples(100, ["head"], ["label"]);
  assert.throws(() => ex.add({ ids: [0, 5, 2], tokens: { head: [1, 2, 3] } }), /missing/);
  ex.add({ ids: [0, 7, 2], tokens: { head: [-100, 0, -100] }, values: { label: 3 } });
  assert.equal(ex.length, 1);
  assert.deepEqual([...ex.tokens(0, "head")], [-100, 0, -100]);
  assert.throws(() => ex.ids(0.5), /example 0.5 of 1/);
});

Deno.test("padBatch: pads to the chosen examples' longest, mask and pad id, row order", () => {
  const ex = new Examples(50265, ["head"]);
  const rows = [
    [0, 11, 12, 2],
    [0, 21, 22, 23, 24, 25, 26, 27, 2], // the global longest (9), never chosen below
    [0, 31, 2],
    [0, 41, 42, 43, 44, 2],
  ];
  rows.forEach((ids, k) => ex.add({ ids, tokens: { head: ids.map((_, s) => 10 * k + s) } }));
  const b = padBatch(ex, [3, 0, 2], 1);
  assert.equal(b.batch, 3);
  assert.equal(b.seqLen, 6);
  assert.deepEqual(b.indices, [3, 0, 2]);
  assert.deepEqual([...b.inputIds], [
    ...[0, 41, 42, 43, 44, 2],
    ...[0, 11, 12, 2, 1, 1],
    ...[0, 31, 2, 1, 1, 1],
  ]);
  assert.deepEqual([...b.attentionMask], [
    ...[1, 1, 1, 1, 1, 1],
    ...[1, 1, 1, 1, 0, 0],
    ...[1, 1, 1, 0, 0, 0],
  ]);
  assert.deepEqual([...padTokens(ex, b, "head", -100)], [
    ...[30, 31, 32, 33, 34, 35],
    ...[0, 1, 2, 3, -100, -100],
    ...[20, 21, 22, -100, -100, -100],
  ]);
  assert.deepEqual([...padTokens(ex, b, "head", 7)].slice(6, 12), [0, 1, 2, 3, 7, 7]);
  // Another pad id; a single example gets no padding at all.
  const one = padBatch(ex, [2], 5);
  assert.equal(one.seqLen, 3);
  assert.deepEqual([...one.inputIds], [0, 31, 2]);
  assert.deepEqual([...one.attentionMask], [1, 1, 1]);
  const with1 = padBatch(ex, [2, 1], 5);
  assert.equal(with1.seqLen, 9);
  assert.deepEqual([...with1.inputIds].slice(0, 9), [0, 31, 2, 5, 5, 5, 5, 5, 5]);
  // The same example twice is two rows.
  const twice = padBatch(ex, [0, 0], 1);
  assert.deepEqual([...twice.inputIds], [0, 11, 12, 2, 0, 11, 12, 2]);
  assert.throws(() => padBatch(ex, [0, 4], 1), /example 4 of 4/);
  assert.throws(() => padTokens(ex, b, "nope", 0), /no column nope/);
});

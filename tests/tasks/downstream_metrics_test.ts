// Downstream metrics against hand-computed values (arithmetic in the comments).
import assert from "node:assert/strict";
import {
  argmax,
  bestAcrossParagraphs,
  bestSpan,
  choiceAccuracy,
  exactMatch,
  looseMacro,
  looseMicro,
  normalizeAnswer,
  qaScores,
  strictAccuracy,
  tacredScores,
  tokenF1,
  typingPredictions,
} from "../../src/tasks/downstream_metrics.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

Deno.test("typing: strict, loose macro and loose micro on three examples", () => {
  // gold {0,1} {2}   {1,3}
  // pred {0,1} {2,3} {}
  // |g∩p|: 2, 1, 0; |p|: 2, 2, 0; |g|: 2, 1, 2
  // strict: only example 1 matches -> 1/3
  // macro P = (2/2 + 1/2 + [empty prediction adds 0]) / 3 = 1.5/3 = 1/2
  //   (averaging over non-empty predictions only would give 1.5/2 = 3/4)
  // macro R = (2/2 + 1/1 + 0/2) / 3 = 2/3
  // macro F1 = 2 * 1/2 * 2/3 / (1/2 + 2/3) = (2/3) / (7/6) = 4/7
  // micro P = 3/4, R = 3/5, F1 = 2 * 9/20 / (27/20) = 18/27 = 2/3
  const gold = [[0, 1], [2], new Set([1, 3])];
  const pred = [new Set([0, 1]), [2, 3], []];
  close(strictAccuracy(gold, pred), 1 / 3);
  const ma = looseMacro(gold, pred);
  close(ma.p, 1 / 2);
  close(ma.r, 2 / 3);
  close(ma.f1, 4 / 7);
  const mi = looseMicro(gold, pred);
  close(mi.p, 3 / 4);
  close(mi.r, 3 / 5);
  close(mi.f1, 2 / 3);
});

Deno.test("typing: order and duplicates do not matter; edge cases", () => {
  // {b,a,a} vs {a,b}: same set -> strict 1, all scores 1.
  close(strictAccuracy([["a", "b"]], [["b", "a", "a"]]), 1);
  close(looseMicro([["a", "b"]], [["b", "a", "a"]]).f1, 1);
  close(looseMacro([["a", "b"]], [["b", "a", "a"]]).f1, 1);
  // A subset is not a strict match: gold {1,2}, pred {1} -> strict 0; macro P 1, R 1/2,
  // F1 = 2 * 1/2 / (3/2) = 2/3.
  close(strictAccuracy([[1, 2]], [[1]]), 0);
  close(looseMacro([[1, 2]], [[1]]).f1, 2 / 3);
  // Nothing predicted anywhere: P 0, R 0, F1 0 (the original f1 returns 0 when R is 0).
  assert.deepEqual(looseMicro([[1]], [[]]), { p: 0, r: 0, f1: 0 });
  assert.deepEqual(looseMacro([[1]], [[]]), { p: 0, r: 0, f1: 0 });
  assert.deepEqual(looseMacro([], []), { p: 0, r: 0, f1: 0 });
  close(strictAccuracy([], []), 0);
  assert.throws(() => looseMicro([[1]], []), /1 labels but prediction has 0/);
});

Deno.test("typingPredictions: threshold at 0, FIGER forces the argmax", () => {
  // No positive logit: OpenEntity predicts nothing, FIGER the argmax (index 1, -0.5).
  const neg = new Float32Array([-1, -0.5, -2]);
  assert.deepEqual(typingPredictions(neg, 3, { forceArgmax: false }), []);
  assert.deepEqual(typingPredictions(neg, 3, { forceArgmax: true }), [1]);
  // Argmax already positive: forcing adds nothing; 0 itself is not > 0.
  const pos = [2, 0.5, 0, -1];
  assert.deepEqual(typingPredictions(pos, 4, { forceArgmax: false }), [0, 1]);
  assert.deepEqual(typingPredictions(pos, 4, { forceArgmax: true }), [0, 1]);
  // Ties at the maximum are all kept (`x1[i] == max(x1)`).
  assert.deepEqual(typingPredictions([-1, -3, -1], 3, { forceArgmax: true }), [0, 2]);
  assert.throws(() => typingPredictions([1, 2], 3, { forceArgmax: false }), /expected 3 logits/);
});

Deno.test("tacred: micro P/R/F1 ignoring no_relation", () => {
  // i gold  pred  guessed gold+ correct
  // 0 A     A     1       1     1
  // 1 B     no    0       1     0
  // 2 no    B     1       0     0   (a negative predicted positive: costs precision)
  // 3 no    no    0       0     0   (true negative: counted nowhere)
  // 4 A     C     1       1     0
  // 5 C     C     1       1     1
  // 6 B     no    0       1     0
  // correct 2, guessed 4, gold positives 5 -> P 1/2, R 2/5, F1 = (2/5) / (9/10) = 4/9
  const gold = ["A", "B", "no_relation", "no_relation", "A", "C", "B"];
  const pred = ["A", "no_relation", "B", "no_relation", "C", "C", "no_relation"];
  const s = tacredScores(gold, pred);
  close(s.precision, 1 / 2);
  close(s.recall, 2 / 5);
  close(s.f1, 4 / 9);
});

Deno.test("tacred: zero denominators follow the official scorer", () => {
  // Everything predicted no_relation: guessed 0 -> P = 1 (scorer's prec_micro = 1.0),
  // correct 0 of 1 gold positive -> R 0, F1 = 2*1*0 / 1 = 0.
  assert.deepEqual(tacredScores(["A", "no_relation"], ["no_relation", "no_relation"]), {
    precision: 1,
    recall: 0,
    f1: 0,
  });
  // No gold positives, one false positive: P 0/1, R 0 (no positives), F1 0.
  assert.deepEqual(tacredScores(["NA", "NA"], ["NA", "X"], "NA"), {
    precision: 0,
    recall: 0,
    f1: 0,
  });
  // Custom negative label: "no_relation" is then an ordinary label: 1 correct of 1 -> all 1.
  assert.deepEqual(tacredScores(["no_relation"], ["no_relation"], "NA"), {
    precision: 1,
    recall: 1,
    f1: 1,
  });
  assert.throws(() => tacredScores(["A"], []), /1 labels but prediction has 0/);
});

Deno.test("choiceAccuracy: argmax per example, ties to the lowest index", () => {
  // argmax: 1 (right), 0 (tie 0/1 -> 0, right), 1 (tie 1/2 -> 1, gold 2: wrong) -> 2/3
  const scores = [[0.1, 0.9, 0.3], [0.5, 0.5, 0.1], new Float32Array([1, 2, 2])];
  close(choiceAccuracy([1, 0, 2], scores), 2 / 3);
  assert.equal(argmax([3, 3, 3, 3]), 0);
  assert.equal(argmax([-5, -1, -1]), 1);
  close(choiceAccuracy([], []), 0);
  assert.throws(() => argmax([]), /no scores/);
});

Deno.test("normalizeAnswer: SQuAD order of lower, punctuation, articles, whitespace", () => {
  assert.equal(normalizeAnswer("The  Cat!"), "cat");
  assert.equal(normalizeAnswer("theater"), "theater");
  assert.equal(normalizeAnswer("An apple, a day\tand THE night."), "apple day and night");
  // Punctuation is deleted (not spaced) before articles go: "a-team" -> "ateam" stays.
  assert.equal(normalizeAnswer("A-Team"), "ateam");
  assert.equal(normalizeAnswer("Rock 'n' Roll"), "rock n roll");
  // Python's \b is Unicode-aware: "éthe" is one word, so its "the" stays.
  assert.equal(normalizeAnswer("Éthe the café"), "éthe café");
  assert.equal(normalizeAnswer("  a an the "), "");
  // Python str.split() also splits on \x1c-\x1f and \x85 (NEL).
  assert.equal(normalizeAnswer("x\x1cy\x85z"), "x y z");
  // ... but not on U+FEFF (JavaScript's \s holds it), nor on U+200B.
  assert.equal(normalizeAnswer("x\ufeffy\u200bz\u3000w"), "x\ufeffy\u200bz w");
  assert.equal(tokenF1("new\ufeffyork", ["new york"]), 0);
});

Deno.test("exactMatch and tokenF1: max over golds, partial overlap", () => {
  close(exactMatch("The Big Red Dog.", ["x", "big red dog"]), 1);
  close(exactMatch("red dog", ["big red dog"]), 0);
  close(exactMatch("anything", []), 0);
  // "the big red dog" -> [big red dog]; "red dog barks" -> [red dog barks]:
  //   common {red, dog} = 2, P 2/3, R 2/3, F1 2/3
  // "a dog" -> [dog]: common 1, P 1/3, R 1, F1 = (2/3) / (4/3) = 1/2; max = 2/3
  close(tokenF1("the big red dog", ["red dog barks"]), 2 / 3);
  close(tokenF1("the big red dog", ["a dog"]), 1 / 2);
  close(tokenF1("the big red dog", ["a dog", "red dog barks"]), 2 / 3);
  // Multiset overlap: [dog dog dog] vs [dog dog cat]: common 2, P 2/3, R 2/3 -> 2/3
  close(tokenF1("dog dog dog", ["dog dog cat"]), 2 / 3);
  close(tokenF1("cat", ["dog"]), 0);
  // Both normalize to nothing: EM 1 but F1 0 (SQuAD v1.1: no common tokens -> 0).
  close(exactMatch("The", ["a"]), 1);
  close(tokenF1("The", ["a"]), 0);
  close(tokenF1("dog", []), 0);
});

Deno.test("qaScores: mean EM and F1 as fractions", () => {
  // em 0, f1 2/3 ; em 1, f1 1 ; em 0, f1 0 -> em 1/3, f1 (5/3)/3 = 5/9
  const r = qaScores([
    { pred: "the big red dog", golds: ["red dog barks"] },
    { pred: "Paris", golds: ["Paris, France", "paris"] },
    { pred: "x", golds: ["y"] },
  ]);
  close(r.em, 1 / 3);
  close(r.f1, 5 / 9);
  assert.deepEqual(qaScores([]), { em: 0, f1: 0 });
});

Deno.test("bestSpan: start <= end < start + maxAnswerLength", () => {
  const start = [1, 5, 0, 2], end = [0, 1, 3, 9];
  // maxLen 2: (0,0)=1 (0,1)=2 (1,1)=6 (1,2)=8 (2,2)=3 (2,3)=9 (3,3)=11 -> (3,3) 11
  assert.deepEqual(bestSpan(start, end, 2), { start: 3, end: 3, score: 11 });
  // maxLen 3 admits (1,3) = 5 + 9 = 14
  assert.deepEqual(bestSpan(start, end, 3), { start: 1, end: 3, score: 14 });
  // maxLen 1: single tokens only: (0,0)=1 (1,1)=6 (2,2)=3 (3,3)=11
  assert.deepEqual(bestSpan(start, end, 1), { start: 3, end: 3, score: 11 });
  // End before start is never chosen: (2,0) would score 9 + 5 = 14; best legal (2,2) = 9.
  assert.deepEqual(bestSpan([0, 0, 9], [5, 0, 0], 3), { start: 2, end: 2, score: 9 });
  // Tie between (0,0) = 9 and (2,2) = 9: the first in (start, end) order.
  assert.deepEqual(bestSpan([0, 0, 9], [9, 0, 0], 3), { start: 0, end: 0, score: 9 });
  assert.throws(() => bestSpan([1], [1, 2], 2), /1 start logits but 2 end logits/);
  assert.throws(() => bestSpan([1], [1], 0), /maxAnswerLength 0/);
});

Deno.test("bestAcrossParagraphs: highest score, ties to the first", () => {
  const spans = [
    { paragraph: 0, start: 1, end: 2, score: 3 },
    { paragraph: 1, start: 4, end: 4, score: 7 },
    { paragraph: 2, start: 0, end: 1, score: 7 },
    { paragraph: 3, start: 2, end: 5, score: -1 },
  ];
  assert.equal(bestAcrossParagraphs(spans), spans[1]);
  assert.throws(() => bestAcrossParagraphs([]), /no candidate spans/);
});

// Metrics against hand-computed values (arithmetic in the comments).
import assert from "node:assert/strict";
import { accuracy, f1Scores, IGNORE, uas } from "../../src/tasks/metrics.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

Deno.test("accuracy counts exact matches", () => {
  close(accuracy(["a", "b", "c", "a"], ["a", "c", "c", "b"]), 2 / 4);
  close(accuracy([], []), 0);
  assert.throws(() => accuracy([1], [1, 2]), /1 labels but prediction has 2/);
});

Deno.test("f1: micro and macro over the union of gold and predicted labels", () => {
  // gold A A A B B C ; pred A A B B C D
  // A: tp 2, fp 0, fn 1 -> F1 = 2*2 / (4+0+1) = 4/5
  // B: tp 1, fp 1 (pos 2), fn 1 (pos 4) -> 2 / (2+1+1) = 1/2
  // C: tp 0 -> 0 (predicted at pos 4, gold at pos 5, never both)
  // D: only predicted -> 0, yet counts in the macro mean (sklearn's default labels)
  // macro = (4/5 + 1/2 + 0 + 0) / 4 = 1.3/4 = 0.325
  // micro: tp 3, fp 3, fn 3 -> 6 / 12 = 0.5 = accuracy 3/6
  const r = f1Scores(["A", "A", "A", "B", "B", "C"], ["A", "A", "B", "B", "C", "D"]);
  close(r.micro, 0.5);
  close(r.macro, 0.325);
  assert.deepEqual([...r.perLabel.keys()].sort(), ["A", "B", "C", "D"]);
  close(r.perLabel.get("A")!, 0.8);
  close(r.perLabel.get("B")!, 0.5);
});

Deno.test("f1: perfect, empty, and one skewed label", () => {
  const perfect = f1Scores(["x", "y"], ["x", "y"]);
  close(perfect.micro, 1);
  close(perfect.macro, 1);
  const none = f1Scores([], []);
  close(none.micro, 0);
  close(none.macro, 0);
  // Always predicting the majority P: gold P P P Q. P: tp 3, fp 1 -> 6/7; Q: 0.
  // micro = 3/4; macro = (6/7 + 0) / 2 = 3/7.
  const skew = f1Scores(["P", "P", "P", "Q"], ["P", "P", "P", "P"]);
  close(skew.micro, 0.75);
  close(skew.macro, 3 / 7);
});

Deno.test("uas ignores positions labelled -100", () => {
  // labelled positions 0, 2, 3, 5: gold heads 2, 0, 2, 4; pred 2, 1, 2, 4 -> 3 of 4 right.
  // Positions 1 and 4 (ignored) disagree on purpose.
  const gold = [2, IGNORE, 0, 2, IGNORE, 4];
  const pred = [2, 7, 1, 2, 9, 4];
  close(uas(gold, pred), 3 / 4);
  close(uas(Int32Array.from(gold), Int32Array.from(pred)), 3 / 4);
  close(uas([IGNORE], [3]), 0);
});

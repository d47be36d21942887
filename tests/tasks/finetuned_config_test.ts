// A damaged finetune_config.json is refused before anything is built from it, each problem
// named (the fuzz issue's cases: a list as dropout, a string as labels, no head, an adapter
// name that leaves the folder, absurd sizes), and a file that is not JSON says so.
import assert from "node:assert/strict";
import { join } from "node:path";
import { FINETUNE_CONFIG, FINETUNE_FORMAT, loadFinetuned } from "../../src/tasks/finetuned.ts";
import { checkFinetuneConfig } from "../../src/tasks/finetuned_config.ts";
import { RunError } from "../../src/train/run.ts";

const GOOD = {
  format: FINETUNE_FORMAT,
  task: "relation",
  settings: {},
  labels: ["no_relation", "P17"],
  fusion: "concat",
  adapters: [{ name: "fac", untrained: false, config: {} }],
  freezeEncoder: false,
  trainAdapters: false,
  maxLength: 64,
  tokenization: "original",
  head: { hidden: 128, labels: 2, dropout: 0.1 },
  training: {},
};

Deno.test("checkFinetuneConfig accepts a written config and names each problem of a damaged one", () => {
  checkFinetuneConfig("x", GOOD);
  const { head: _, ...noHead } = GOOD;
  const cases: [unknown, RegExp][] = [
    [
      { ...GOOD, head: { ...GOOD.head, dropout: [] } },
      /head.dropout must be a number in \[0, 1\), got \[\]/,
    ],
    [{ ...GOOD, labels: "P1" }, /labels must be a non-empty list of strings, got "P1"/],
    [noHead, /head must be an object \{hidden, labels, dropout\}, got nothing/],
    [{ ...GOOD, adapters: [{ name: "../../etc", untrained: false }] }, /adapters\[0\] must be/],
    [{ ...GOOD, adapters: [{ name: "..", untrained: false }] }, /adapters\[0\] must be/],
    [{ ...GOOD, maxLength: 1e9 }, /maxLength must be an integer in \[2, 65536\]/],
    [{ ...GOOD, head: { ...GOOD.head, labels: 2 ** 40 } }, /head.labels must be an integer/],
    [
      { ...GOOD, fusion: "mul", freezeEncoder: "no" },
      /fusion must be concat or add.*freezeEncoder/,
    ],
    [{ ...GOOD, tokenization: "bpe" }, /tokenization must be original or hf/],
    [[], /must be a JSON object/],
    [{ ...GOOD, labels: ["no_relation"] }, /head.labels is 2, but labels lists 1/],
  ];
  for (const [c, expected] of cases) {
    assert.throws(
      () => checkFinetuneConfig("model/finetune_config.json", c),
      (e: Error) => e instanceof RunError && expected.test(e.message),
      JSON.stringify(c),
    );
  }
});

Deno.test("loadFinetuned refuses a config that is not JSON or not the format", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_ftconfig_" });
  try {
    for (
      const [text, expected] of [
        ["{", /finetune_config.json is not JSON/],
        ["null", /format must be kadapter-finetune\/1, not undefined/],
        [JSON.stringify({ ...GOOD, labels: "P1" }), /is damaged: labels must be/],
      ] as const
    ) {
      await Deno.writeTextFile(join(dir, FINETUNE_CONFIG), text);
      await assert.rejects(
        loadFinetuned(dir),
        (e: Error) => e instanceof RunError && expected.test(e.message),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

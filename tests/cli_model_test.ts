// `kadapter model init` and `kadapter encode` as a user runs them (subprocesses), with the
// output file checked against the tokenizer and the frozen encoder run in this process.
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpu, initGpu } from "../src/gpu/device.ts";
import { readConfig } from "../src/formats/hf_config.ts";
import { openSafetensors } from "../src/formats/safetensors.ts";
import { RobertaTokenizer } from "../src/formats/tokenizer.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import { tidy } from "../src/tensor/mod.ts";
import { kadapter, strayTemps } from "./kadapter_cli.ts";

const LINES = [
  "Hello world",
  "",
  "The quick brown fox jumps over the lazy dog.",
  "  ",
  "K-Adapter infuses knowledge into RoBERTa (Wang et al., 2020)!",
];

await initGpu();
const dir = await Deno.makeTempDir({ prefix: "kadapter_cli_model_" });
const model = join(dir, "tiny"), input = join(dir, "lines.txt");
await Deno.writeTextFile(input, LINES.join("\n") + "\n");

Deno.test("model init --preset tiny writes a folder that loads", async () => {
  const r = await kadapter("model", "init", "--preset", "tiny", "--out", model, "--seed", "3");
  assert.equal(r.code, 0, r.out + r.err);
  const names = [...Deno.readDirSync(model)].map((e) => e.name).sort();
  assert.deepEqual(names, [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
  ]);
  const config = await readConfig(model), tok = await RobertaTokenizer.fromFolder(model);
  assert.equal(config.vocab_size, tok.vocabSize);
  assert.deepEqual([config.hidden_size, config.num_hidden_layers], [64, 2]);
  const again = await kadapter("model", "init", "--preset", "tiny", "--out", model);
  assert.equal(again.code, 2);
  assert.match(again.err, /exists and is not empty/);
  const bad = await kadapter("model", "init", "--preset", "huge", "--out", join(dir, "x"));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--preset must be one of tiny, base, large/);
});

async function encodeAndCheck(f16: boolean) {
  const out = join(dir, f16 ? "f16.safetensors" : "f32.safetensors");
  const r = await kadapter(
    "encode",
    "--model",
    model,
    "--input",
    input,
    "--out",
    out,
    "--batch",
    "2",
    ...(f16 ? ["--f16"] : []),
  );
  assert.equal(r.code, 0, r.out + r.err);
  const file = await openSafetensors(out);
  const tok = await RobertaTokenizer.fromFolder(model);
  const texts = [LINES[0], LINES[2], LINES[4]];
  const ids = texts.map((t) => tok.encode(t).ids), T = Math.max(...ids.map((s) => s.length));
  const info = (n: string) => [file.info(n).dtype, file.info(n).shape];
  assert.deepEqual(info("input_ids"), ["I64", [3, T]]);
  assert.deepEqual(info("attention_mask"), ["I64", [3, T]]);
  assert.deepEqual([...await file.readI32("line_numbers")], [1, 3, 5]);
  const batch = tok.padBatch(ids);
  assert.deepEqual([...await file.readI32("input_ids")], [...batch.inputIds]);
  assert.deepEqual([...await file.readI32("attention_mask")], [...batch.attentionMask]);
  const frozen = await FrozenRoberta.fromFolder(model);
  const want = tidy(() => frozen.hiddenStates(batch));
  for (const [k, w] of want.entries()) {
    assert.deepEqual(info(`hidden_states.${k}`), ["F32", [3, T, 64]]);
    const got = await file.readF32(`hidden_states.${k}`), expected = await w.data();
    let worst = 0;
    for (let i = 0; i < got.length; i++) {
      // Padding positions are written as 0.
      const e = batch.attentionMask[Math.floor(i / 64)] ? expected[i] : 0;
      worst = Math.max(worst, Math.abs(got[i] - e));
    }
    // f16: see the f16 test in tests/models/roberta_test.ts. f32: the CLI's batches of 2 and
    // this batch of 3 may take different product kernels (split-K is chosen per shape), so
    // sums are ordered differently: equal to f32 rounding, not bit for bit.
    assert.ok(worst <= (f16 ? 2e-2 : 2e-6), `hidden_states.${k}: largest difference ${worst}`);
    w.dispose();
  }
  assert.equal(file.tensors.size, 3 + want.length);
  file.close();
  frozen.dispose();
}

Deno.test("encode writes ids, mask and every hidden state of the non-blank lines", async () => {
  await encodeAndCheck(false);
});

Deno.test({
  name: "encode --f16 agrees with f32",
  ignore: !gpu().hasF16,
  fn: () => encodeAndCheck(true),
});

Deno.test("encode: clear errors for a missing model folder and an empty input", async () => {
  const empty = join(dir, "empty.txt");
  await Deno.writeTextFile(empty, "\n \n");
  const out = join(dir, "never.safetensors");
  const noModel = await kadapter(
    "encode",
    "--model",
    join(dir, "nope"),
    "--input",
    input,
    "--out",
    out,
  );
  assert.equal(noModel.code, 1);
  assert.match(noModel.err, /nope: no such folder/);
  assert.doesNotMatch(noModel.err, /\bat /); // a message, not a stack trace
  const noText = await kadapter("encode", "--model", model, "--input", empty, "--out", out);
  assert.equal(noText.code, 1);
  assert.match(noText.err, /no text to encode/);
  const noArg = await kadapter("encode", "--model", model, "--out", out);
  assert.equal(noArg.code, 2);
  assert.match(noArg.err, /--input is required/);
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("the commands above left no temporary file behind", async () => {
  assert.deepEqual(await strayTemps(dir), []);
  await Deno.remove(dir, { recursive: true });
});

// `kadapter encode --adapters` as a user runs it (subprocesses): each adapter model's output
// lands in the file as adapter.NAME, checked against AdapterModel.forward run in this process;
// an adapter of another encoder size, or of another kind than its name, is refused.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu } from "../src/gpu/device.ts";
import { readConfig } from "../src/formats/hf_config.ts";
import { openSafetensors } from "../src/formats/safetensors.ts";
import { RobertaTokenizer } from "../src/formats/tokenizer.ts";
import { adapterConfig } from "../src/models/adapter_config.ts";
import { type AdapterMeta, saveAdapterFolder } from "../src/models/adapter_folder.ts";
import { AdapterModel } from "../src/models/kadapter.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import { additiveMask } from "../src/nn/attention.ts";
import { liveTensors, noGrad, Tensor, tidy } from "../src/tensor/mod.ts";
import { kadapter, strayTemps } from "./kadapter_cli.ts";

const TEXTS = [
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "K-Adapter infuses knowledge into RoBERTa (Wang et al., 2020)!",
];
const H = 64, L = 2, BATCH = 2;

await initGpu();
const dir = await Deno.makeTempDir({ prefix: "kadapter_cli_encode_adapters_" });
const model = join(dir, "tiny"), input = join(dir, "lines.txt");
const facDir = join(dir, "fac"), linDir = join(dir, "lin"), wideDir = join(dir, "wide");
await Deno.writeTextFile(input, TEXTS.join("\n") + "\n");
const small = { adapterHidden: 16, heads: 2, intermediate: 32, layers: 1 };
// fac: masks padded keys, so its outputs do not depend on the padding. lin: the released
// code's all-positions mask, over two hidden states. (Not combine "concat": a freshly built
// concat adapter's fuse bias is NaN, see the report.)
const fac = new AdapterModel(adapterConfig(H, L, { ...small, mask: "padding" }), 11).eval();
const lin = new AdapterModel(
  adapterConfig(H, L, { ...small, adapterList: [0, 2] }),
  12,
).eval();

const init = await kadapter("model", "init", "--preset", "tiny", "--out", model, "--seed", "3");
assert.equal(init.code, 0, init.out + init.err);
const vocab = (await readConfig(model)).vocab_size;
const meta = (name: string, hidden: number): AdapterMeta => ({
  name,
  task: name === "lin" ? "lin" : "fac",
  base: { model_type: "roberta", hidden_size: hidden, num_hidden_layers: L, vocab_size: vocab },
});
await saveAdapterFolder(facDir, fac, meta("fac", H));
await saveAdapterFolder(linDir, lin, meta("lin", H));

/** Largest |got - want| over real tokens, relative to max |want|; padding must be exactly 0. */
function compare(
  what: string,
  got: Float32Array,
  want: ArrayLike<number>,
  mask: ArrayLike<number>,
): void {
  let worst = 0, scale = 0;
  for (let i = 0; i < got.length; i++) {
    if (mask[Math.floor(i / H)]) {
      worst = Math.max(worst, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    } else assert.equal(got[i], 0, `${what}: padding value ${got[i]} at ${i}`);
  }
  assert.ok(scale > 0, `${what}: all zero`);
  assert.ok(worst <= 1e-5 * scale, `${what}: largest difference ${worst} (max |x| ${scale})`);
}

function run(a: AdapterModel, states: Tensor[], keep: ArrayLike<number>, n: number, t: number) {
  return tidy(() =>
    noGrad(() =>
      a.forward(
        a.config.adapterList.map((i) => states[i]),
        Tensor.from(additiveMask(keep, n, t), [n, 1, 1, t]),
      )
    )
  );
}

Deno.test("encode --adapters writes each adapter model's output", async () => {
  const out = join(dir, "out.safetensors");
  const r = await kadapter(
    "encode",
    "--model",
    model,
    "--input",
    input,
    "--out",
    out,
    "--batch",
    String(BATCH),
    "--adapters",
    `fac=${facDir},lin=${linDir}`,
  );
  assert.equal(r.code, 0, r.out + r.err);
  const file = await openSafetensors(out);
  const tok = await RobertaTokenizer.fromFolder(model);
  const ids = TEXTS.map((t) => tok.encode(t).ids), T = Math.max(...ids.map((s) => s.length));
  const n = TEXTS.length;
  assert.ok(ids.some((s) => s.length < T), "the test needs padding");
  for (const name of ["adapter.fac", "adapter.lin"]) {
    assert.deepEqual([file.info(name).dtype, file.info(name).shape], ["F32", [n, T, H]]);
  }
  assert.equal(file.tensors.size, 3 + (L + 1) + 2);
  assert.deepEqual(JSON.parse(file.metadata.adapters), { fac: facDir, lin: linDir });
  const keep = await file.readI32("attention_mask");

  // fac from the file's own hidden states (zero at padding; its mask hides padded keys).
  const states: Tensor[] = [];
  for (let k = 0; k <= L; k++) {
    states.push(Tensor.from(await file.readF32(`hidden_states.${k}`), [n, T, H]));
  }
  const facWant = run(fac, states, keep, n, T);
  compare("adapter.fac", await file.readF32("adapter.fac"), await facWant.data(), keep);
  facWant.dispose();
  states.forEach((s) => s.dispose());

  // Both from the encoder run here, batched as encode batches (lin's attention reads the
  // padding) and, for fac, one example at a time.
  const frozen = await FrozenRoberta.fromFolder(model);
  const want = { fac: new Float32Array(n * T * H), lin: new Float32Array(n * T * H) };
  const single = new Float32Array(n * T * H);
  const place = (
    dest: Float32Array,
    v: Float32Array | Int32Array,
    rows: number[][],
    i0: number,
    t: number,
  ) =>
    rows.forEach((s, j) =>
      dest.set(v.subarray(j * t * H, (j * t + s.length) * H), (i0 + j) * T * H)
    );
  for (let i0 = 0; i0 < n; i0 += BATCH) {
    const rows = ids.slice(i0, i0 + BATCH), b = tok.padBatch(rows);
    const hs = tidy(() => frozen.hiddenStates(b));
    for (const [name, a] of [["fac", fac], ["lin", lin]] as const) {
      const t = run(a, hs, b.attentionMask, b.batch, b.seqLen);
      place(want[name], await t.data(), rows, i0, b.seqLen);
      t.dispose();
    }
    hs.forEach((h) => h.dispose());
  }
  for (const [i, row] of ids.entries()) {
    const b = tok.padBatch([row]), hs = tidy(() => frozen.hiddenStates(b));
    const t = run(fac, hs, b.attentionMask, 1, b.seqLen);
    place(single, await t.data(), [row], i, b.seqLen);
    t.dispose();
    hs.forEach((h) => h.dispose());
  }
  frozen.dispose();
  compare("adapter.fac (batched)", await file.readF32("adapter.fac"), want.fac, keep);
  compare("adapter.fac (one at a time)", await file.readF32("adapter.fac"), single, keep);
  compare("adapter.lin (batched)", await file.readF32("adapter.lin"), want.lin, keep);
  file.close();
});

Deno.test("encode --adapters refuses an adapter trained on another encoder size", async () => {
  const wide = new AdapterModel(adapterConfig(32, L, small), 13);
  await saveAdapterFolder(wideDir, wide, meta("fac", 32));
  wide.dispose();
  const out = join(dir, "never.safetensors");
  const r = await kadapter(
    "encode",
    ...["--model", model, "--input", input, "--out", out],
    ...["--adapters", `fac=${facDir},wide=${wideDir}`],
  );
  assert.equal(r.code, 1, r.out + r.err);
  assert.ok(r.err.includes(wideDir), r.err);
  assert.match(r.err, /hidden_size 32/);
  assert.match(r.err, /--adapters wide/);
  assert.doesNotMatch(r.err, /\bat /); // a message, not a stack trace
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("encode --adapters fac=<a lin adapter> is refused; --force warns and encodes", async () => {
  const out = join(dir, "forced.safetensors");
  const args = ["encode", "--model", model, "--input", input, "--out", out];
  const r = await kadapter(...args, "--adapters", `fac=${linDir}`);
  assert.equal(r.code, 1, r.out + r.err);
  assert.ok(
    r.err.includes(
      `adapter fac (--adapters fac=${linDir}): the folder holds a lin adapter (task "lin"), ` +
        "not fac; pass --force to use it anyway",
    ),
    r.err,
  );
  assert.doesNotMatch(r.err, /\bat /); // a message, not a stack trace
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);

  const f = await kadapter(...args, "--adapters", `fac=${linDir}`, "--force");
  assert.equal(f.code, 0, f.out + f.err);
  assert.match(
    f.out + f.err,
    /^warning: adapter fac \(--adapters fac=.*\): the folder holds a lin adapter .*--force\)$/m,
  );
  const file = await openSafetensors(out);
  assert.deepEqual(file.info("adapter.fac").shape.slice(0, 1), [TEXTS.length]);
  file.close();
});

Deno.test("encode --adapters: usage errors for malformed values", async () => {
  const out = join(dir, "never.safetensors");
  const cases: [string, RegExp][] = [
    ["fac", /"fac" is not NAME=DIR/],
    ["=dir", /the name must be/],
    [`fac=${facDir},fac=${linDir}`, /"fac" is given twice/],
    [`fac=${facDir},`, /"" is not NAME=DIR/],
    ["a b=dir", /the name must be/],
  ];
  for (const [value, message] of cases) {
    const r = await kadapter(
      "encode",
      ...["--model", model, "--input", input, "--out", out, "--adapters", value],
    );
    assert.equal(r.code, 2, `${value}: ${r.out + r.err}`);
    assert.match(r.err, message, value);
  }
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("the adapters free their GPU tensors; no temporary file is left behind", async () => {
  const live = liveTensors(), held = fac.parameters().length + lin.parameters().length;
  fac.dispose();
  lin.dispose();
  assert.equal(live - liveTensors(), held);
  assert.deepEqual(await strayTemps(dir), []);
  await Deno.remove(dir, { recursive: true });
});

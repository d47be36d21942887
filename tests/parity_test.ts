// Parity with PyTorch: the model folder and expected outputs in tests/fixtures/parity come from
// tools/reference/roberta_ref.py (RobertaForMaskedLM built from torch ops, float64 math on the
// F32 weights). Both model paths load the folder as users' folders load (prefix "roberta.", no
// lm_head.decoder, position_ids present); hidden states, masked-LM logits, the loss and the
// gradient of every weight must match.
//
// Error measure, per tensor: max|ours - torch| / max|torch| (NaN counts as infinite), under
// 1e-4. The one exception: gradients that are exactly 0 in exact arithmetic (the attention key
// biases': a per-query constant does not change softmax; torch's f64 gives ~1e-17) are measured
// against 1e-2 times the largest gradient element of the model, i.e. |ours| <= 1e-6 of it.
// KADAPTER_PARITY_DIR=<dir> runs the same checks on another output of the script (e.g. its
// --realistic mode); the errors are printed either way.
import assert from "node:assert/strict";
import { join } from "node:path";
import { openSafetensors, type SafetensorsFile } from "../src/formats/safetensors.ts";
import { RobertaModel } from "../src/models/roberta.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import type { EncoderInput } from "../src/models/roberta_inputs.ts";
import { backward, crossEntropy, Tensor, tidy } from "../src/tensor/mod.ts";
import { read, test } from "./setup.ts";

const DIR = Deno.env.get("KADAPTER_PARITY_DIR") ||
  new URL("./fixtures/parity", import.meta.url).pathname;
const MODEL = join(DIR, "model");
const TOL = 1e-4;

/** max|a - b| / max|b| over the tensor, or / zeroScale where b is 0 up to f64 rounding. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>, zeroScale: number): number {
  assert.equal(a.length, b.length, "element counts differ");
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= diff)) diff = Number.isNaN(e) ? Infinity : e;
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (scale <= 1e-7 * zeroScale) scale = zeroScale;
  return scale > 0 ? diff / scale : diff;
}

/** Collects relative errors by name; check() prints the worst and fails on any over TOL. */
class Report {
  readonly errors: [string, number][] = [];
  constructor(readonly title: string) {}
  add(name: string, ours: ArrayLike<number>, torch: ArrayLike<number>, zeroScale = 0): void {
    this.errors.push([name, relError(ours, torch, zeroScale)]);
  }
  check(): void {
    const sorted = [...this.errors].sort((a, b) => b[1] - a[1]);
    const bad = sorted.filter(([, e]) => !(e < TOL));
    const show = ([n, e]: [string, number]) => `${n} ${e.toExponential(2)}`;
    console.log(`${this.title}: ${this.errors.length} tensors; worst relative errors:`);
    for (const e of sorted.slice(0, Math.max(3, bad.length))) console.log(`  ${show(e)}`);
    assert.equal(bad.length, 0, `${bad.length} tensors exceed relative error ${TOL}`);
  }
}

async function openExpected(): Promise<{ f: SafetensorsFile; input: EncoderInput }> {
  const f = await openSafetensors(join(DIR, "expected.safetensors"));
  const [batch, seqLen] = f.info("input_ids").shape;
  const input = {
    inputIds: await f.readI32("input_ids"),
    attentionMask: await f.readI32("attention_mask"),
    batch,
    seqLen,
  };
  return { f, input };
}

/** Reads the tensors and disposes them. */
async function readAll(ts: Tensor[]): Promise<Float64Array[]> {
  try {
    const out = [];
    for (const t of ts) out.push(await read(t));
    return out;
  } finally {
    ts.forEach((t) => t.dispose());
  }
}

test("parity: trainable RoBERTa matches PyTorch (hidden states, MLM logits, loss, every grad)", async () => {
  const { f, input } = await openExpected();
  const model = await RobertaModel.load(MODEL, { lmHead: true });
  try {
    const labelData = await f.readI32("labels");
    const outs = tidy(() => {
      const labels = Tensor.from(labelData, [input.batch, input.seqLen], "i32");
      const states = model.forward(input);
      const logits = model.mlmLogits(states.at(-1)!);
      const loss = crossEntropy(logits, labels, -100);
      backward(loss);
      return [...states, logits, loss];
    });
    const got = await readAll(outs);
    const r = new Report(`trainable f32 (${DIR})`);
    const layers = got.length - 3;
    for (let i = 0; i <= layers; i++) {
      r.add(`hidden_states.${i}`, got[i], await f.readF32(`hidden_states.${i}`));
    }
    r.add("logits", got[layers + 1], await f.readF32("logits"));
    r.add("loss", got[layers + 2], await f.readF32("loss"));
    // Parameters are named as RobertaModel's (no prefix); the word-embedding gradient holds
    // the tied decoder's share on both sides.
    const params = model.namedParameters();
    const gradNames = [...f.tensors.keys()].filter((n) => n.startsWith("grad.")).sort();
    const ours = params.map(([n]) => `grad.${n.startsWith("lm_head.") ? "" : "roberta."}${n}`);
    assert.deepEqual([...ours].sort(), gradNames, "parameters differ from the reference's");
    const expected = [];
    for (const n of ours) expected.push(await f.readF32(n));
    const largest = Math.max(
      ...expected.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
    );
    for (const [i, [name, t]] of params.entries()) {
      assert.ok(t.grad, `${name} got no gradient`);
      r.add(ours[i], await read(t.grad), expected[i], 1e-2 * largest);
    }
    r.check();
  } finally {
    model.dispose();
    f.close();
  }
});

test("parity: frozen f32 inference path matches PyTorch (hidden states, MLM logits)", async () => {
  const { f, input } = await openExpected();
  const model = await FrozenRoberta.fromFolder(MODEL, { lmHead: true });
  try {
    const states = model.hiddenStates(input);
    const logits = tidy(() => model.mlmLogits(states.at(-1)!));
    const got = await readAll([...states, logits]);
    const r = new Report(`frozen f32 (${DIR})`);
    for (let i = 0; i < states.length; i++) {
      r.add(`hidden_states.${i}`, got[i], await f.readF32(`hidden_states.${i}`));
    }
    r.add("logits", got.at(-1)!, await f.readF32("logits"));
    r.check();
  } finally {
    model.dispose();
    f.close();
  }
});

// The trainable RobertaModel with its word table in pieces of consecutive rows (as roberta-large's
// must be where one storage binding holds 128 MiB): the same weights, hidden states, tied
// masked-LM logits and gradients as the whole table, model folders with the one HF tensor, and
// training checkpoints with AdamW's moments.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../src/formats/hf_config.ts";
import { openSafetensors } from "../../src/formats/safetensors.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import type { EncoderInput } from "../../src/models/roberta_inputs.ts";
import { AdamW } from "../../src/nn/optim.ts";
import { add, backward, keep, mul, sumAll, type Tensor, tidy } from "../../src/tensor/mod.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.ts";
import { assertClose, read, test, up } from "../setup.ts";
import { paddedBatch } from "./batches.ts";

const PAD = 1, VOCAB = 40, ROWS = 7;
const config = parseConfig({
  vocab_size: VOCAB,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  max_position_embeddings: 20,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  pad_token_id: PAD,
  hidden_act: "gelu",
}, "test");
const WORDS = "embeddings.word_embeddings.weight";

/** Every row of the table, from its pieces. */
async function table(m: RobertaModel): Promise<number[]> {
  const out: number[] = [];
  for (const p of m.embeddings.word_embeddings.pieces) out.push(...await read(p));
  return out;
}

/** A train-mode step (dropout on) through the encoder and the tied head; values and grads. */
async function step(m: RobertaModel, input: EncoderInput, w: Tensor, r: Tensor) {
  m.dropoutRng.counter = 0;
  const [h, logits] = tidy(() => {
    const last = m.forward(input).at(-1)!, l = m.mlmLogits(last);
    backward(add(sumAll(mul(l, r)), sumAll(mul(last, w))));
    return [keep(last), keep(l)];
  });
  const out = { h: await read(h), logits: await read(logits), grads: new Map<string, number[]>() };
  h.dispose();
  logits.dispose();
  for (const [name, pieces] of m.folderTensors()) {
    const g: number[] = [];
    for (const t of pieces) {
      g.push(...await read(t.grad!));
      t.grad!.dispose();
      t.grad = null;
    }
    out.grads.set(name, g);
  }
  return out;
}

test("word table in pieces: same weights, outputs, MLM logits and gradients", async (rng) => {
  const seed = rng.int(1, 1000);
  const whole = new RobertaModel(config, seed, { lmHead: true }).train(true);
  const split = new RobertaModel(config, seed, { lmHead: true, rowsPerPiece: ROWS }).train(true);
  const input = paddedBatch(rng, [9, 5, 7], VOCAB, PAD);
  const w = up(rng.randn([3, 9, 16])), r = up(rng.randn([3, 9, VOCAB]));
  try {
    const pieces = split.embeddings.word_embeddings.pieces;
    assert.deepEqual(pieces.map((p) => p.shape[0]), [7, 7, 7, 7, 7, 5]);
    assert.deepEqual(
      split.namedParameters().filter(([n]) => n.startsWith(WORDS)).map(([n]) => n),
      pieces.map((_, i) => `${WORDS}.${i}`),
    );
    assert.deepEqual(await table(split), await table(whole), "seeded init, padding row zero");
    // The frozen path made from the model keeps the pieces (encode, probe, the fac stage).
    const frozen = [whole, split].map((m) => FrozenRoberta.fromModel(m.eval()));
    const states = frozen.map((f) => tidy(() => keep(f.hiddenStates(input).at(-1)!)));
    const last = await Promise.all(states.map(read));
    assert.deepEqual(last[1], last[0], "frozen path's last hidden state");
    for (const t of [...states, ...frozen]) t.dispose();
    whole.train(true);
    split.train(true);
    const a = await step(whole, input, w, r), b = await step(split, input, w, r);
    assert.deepEqual(b.h, a.h, "last hidden state");
    assertClose(b.logits, a.logits, { atol: 1e-6, rtol: 1e-6 }, "MLM logits");
    assert.deepEqual([...b.grads.keys()], [...a.grads.keys()]);
    // The tied decoder's products run over the pieces, so logits differ in the last bits, and
    // gradients summed over positions (token-type, positions, LayerNorm) differ by rounding of
    // sums whose terms cancel: an element's relative error is unbounded there, so the bound is
    // normwise, relative to the gradient's largest element (a seed gave 2.2e-4 relative on a
    // position-embedding element at 0.4% of the maximum).
    for (const [name, g] of a.grads) {
      const scale = g.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assertClose(
        b.grads.get(name)!,
        g,
        { atol: Math.max(1e-5, 1e-4 * scale), rtol: 1e-4 },
        `gradient of ${name}`,
      );
    }
  } finally {
    for (const t of [w, r]) t.dispose();
    whole.dispose();
    split.dispose();
  }
});

test("word table in pieces: model folders hold the one HF tensor, both ways", async (rng) => {
  const dir = await Deno.makeTempDir();
  const split = new RobertaModel(config, rng.int(1, 1000), { lmHead: true, rowsPerPiece: ROWS });
  try {
    await split.save(dir);
    const file = await openSafetensors(join(dir, "model.safetensors"));
    try {
      assert.deepEqual(file.tensors.get(`roberta.${WORDS}`)?.shape, [VOCAB, 16]);
      assert.deepEqual(Array.from(await file.readF32(`roberta.${WORDS}`)), await table(split));
      assert.ok(![...file.tensors.keys()].some((n) => n.includes(`${WORDS}.`)));
    } finally {
      file.close();
    }
    for (const rowsPerPiece of [undefined, 11]) {
      const back = await RobertaModel.load(dir, { rowsPerPiece });
      try {
        assert.equal(back.embeddings.word_embeddings.pieces.length, rowsPerPiece ? 4 : 1);
        const want = new Map(split.folderTensors());
        for (const [name, pieces] of back.folderTensors()) {
          const got: number[] = [], exp: number[] = [];
          for (const t of pieces) got.push(...await read(t));
          for (const t of want.get(name)!) exp.push(...await read(t));
          assert.deepEqual(got, exp, name);
        }
      } finally {
        back.dispose();
      }
    }
  } finally {
    split.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

test("word table in pieces: training checkpoints restore pieces and moments", async (rng) => {
  const dir = await Deno.makeTempDir();
  const input = paddedBatch(rng, [6, 4], VOCAB, PAD);
  const make = (seed: number) => {
    const m = new RobertaModel(config, seed, { rowsPerPiece: ROWS }).train(false);
    const opt = new AdamW(m.namedParameters(), { lr: 0.01 });
    return { m, opt };
  };
  const a = make(1), b = make(2);
  try {
    tidy(() => backward(sumAll(a.m.forward(input).at(-1)!)));
    a.opt.update().dispose();
    a.opt.zeroGrad();
    const state = {
      step: 0,
      sampler: { seed: 1, epoch: 0, position: 0 },
      dropout: [],
      best: null,
      config: {},
    };
    await saveCheckpoint(join(dir, "ck"), a.m.namedParameters(), a.opt, state);
    await loadCheckpoint(join(dir, "ck"), b.m.namedParameters(), b.opt);
    const tensors = (x: typeof a) => [...x.m.parameters(), ...x.opt.m, ...x.opt.v];
    const [ta, tb] = [tensors(a), tensors(b)];
    for (let i = 0; i < ta.length; i++) assert.deepEqual(await read(tb[i]), await read(ta[i]));
  } finally {
    for (const x of [a, b]) {
      x.opt.dispose();
      x.m.dispose();
    }
    await Deno.remove(dir, { recursive: true });
  }
});

// RoBERTa (src/models): the trainable path against a float64 loop reference of the whole model
// (padding in the batch, positions from the mask; every hidden state and the masked-LM logits),
// its gradients against finite differences of that reference, the forward-only path
// (hiddenStates, the frozen encoder) giving forward's exact values for any states kept and in
// train mode, f16 inference against f32, folders in transformers' layout, and the forward-only
// path's memory.
import assert from "node:assert/strict";
import { join } from "node:path";
import { pool } from "../../src/gpu/pool.ts";
import { upload } from "../../src/gpu/queue.ts";
import { parseConfig } from "../../src/formats/hf_config.ts";
import { writeModelFolder } from "../../src/formats/hf_folder.ts";
import { openSafetensors } from "../../src/formats/safetensors.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { robertaShapes } from "../../src/models/roberta_config.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { type EncoderInput, positionIds } from "../../src/models/roberta_inputs.ts";
import type { Module } from "../../src/nn/module.ts";
import { add, backward, liveTensors, mul, sumAll, Tensor, tidy } from "../../src/tensor/mod.ts";
import * as ref from "../nn_reference.ts";
import { assertClose, hasF16, read, rms, type Rng, run, test } from "../setup.ts";
import { paddedBatch } from "./batches.ts";

const PAD = 1;
const SMALL = {
  vocab_size: 40,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  max_position_embeddings: 12,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  pad_token_id: PAD,
  hidden_act: "gelu",
};
const config = (over: Record<string, number> = {}) => parseConfig({ ...SMALL, ...over }, "test");

/** O(1) random weights (LayerNorm gains near 1), so that every path matters. */
function randomize(m: Module, rng: Rng, scale = 0.5): void {
  for (const [name, t] of m.namedParameters()) {
    const gain = /(LayerNorm|layer_norm)\.weight$/.test(name) ? 1 : 0;
    upload(t.buffer, 0, Float32Array.from({ length: t.size }, () => gain + scale * rng.normal()));
  }
}

async function params(m: Module): Promise<ref.Params> {
  const out: ref.Params = new Map();
  for (const [name, t] of m.namedParameters()) out.set(name, Float64Array.from(await t.data()));
  return out;
}

// ---- the float64 reference ---------------------------------------------------------------
interface RefOut {
  states: Float64Array[];
  logits: Float64Array;
}

function reference(P: ref.Params, m: RobertaModel, input: EncoderInput): RefOut {
  const d = m.dims, { batch, seqLen } = input, H = d.hidden, rows = batch * seqLen;
  const get = (n: string) => P.get(n)!;
  const word = get("embeddings.word_embeddings.weight");
  const pos = get("embeddings.position_embeddings.weight");
  const type0 = get("embeddings.token_type_embeddings.weight");
  const x = new Float64Array(rows * H);
  for (let b = 0; b < batch; b++) {
    let seen = 0;
    for (let s = 0; s < seqLen; s++) {
      const r = b * seqLen + s, id = input.inputIds[r];
      const p = id === PAD ? PAD : PAD + ++seen;
      for (let i = 0; i < H; i++) x[r * H + i] = word[id * H + i] + type0[i] + pos[p * H + i];
    }
  }
  const c = { batch, seq: seqLen, hidden: H, heads: d.heads, eps: d.layerNormEps };
  const states: Float64Array[] = [
    ref.layerNorm(x, get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"), c.eps),
  ];
  for (let l = 0; l < d.layers; l++) {
    states.push(
      ref.transformerLayer(states[l], input.attentionMask, P, c, `encoder.layer.${l}.`),
    );
  }
  const hd = ref.linear(
    states[d.layers],
    rows,
    get("lm_head.dense.weight"),
    get("lm_head.dense.bias"),
  )
    .map(ref.gelu);
  const hn = ref.layerNorm(
    hd,
    get("lm_head.layer_norm.weight"),
    get("lm_head.layer_norm.bias"),
    c.eps,
  );
  return { states, logits: ref.linear(hn, rows, word, get("lm_head.bias")) };
}

/** Hidden states and logits of the trainable path. */
function trainable(m: RobertaModel, input: EncoderInput): Tensor[] {
  const states = m.forward(input);
  return [...states, m.mlmLogits(states.at(-1)!)];
}

// ---- tests ---------------------------------------------------------------------------------
test("roberta: position ids count real tokens from pad + 1; padding gets pad", () => {
  const input = { inputIds: [0, 7, 9, 2, 1, 1, 0, 2], attentionMask: [], batch: 2, seqLen: 4 };
  assert.deepEqual([...positionIds(input, 1)], [2, 3, 4, 5, 1, 1, 2, 3]);
});

test("roberta: parameter names and shapes are transformers' state-dict keys", () => {
  const m = new RobertaModel(config(), 1, { lmHead: true });
  const names = m.namedParameters().map(([n, t]) => [n, [...t.shape]]);
  assert.deepEqual(names, robertaShapes(m.dims, true));
  assert.equal(names[0][0], "embeddings.word_embeddings.weight");
  assert.ok(names.some(([n]) => n === "encoder.layer.1.attention.self.query.weight"));
  assert.ok(names.some(([n]) => n === "lm_head.layer_norm.weight"));
  m.dispose();
});

test("roberta: hidden states and MLM logits match the float64 reference", async (rng) => {
  const m = new RobertaModel(config(), 2, { lmHead: true }).eval();
  randomize(m, rng);
  const input = paddedBatch(rng, [7, 4, 5], SMALL.vocab_size);
  const want = reference(await params(m), m, input);
  const got = await run(() => trainable(m, input));
  const frozen = FrozenRoberta.fromModel(m);
  const inferred = await run(() => {
    const states = frozen.hiddenStates(input);
    return [...states, frozen.mlmLogits(states.at(-1)!)];
  });
  frozen.dispose();
  for (const [path, out] of [["trainable", got], ["inference", inferred]] as const) {
    want.states.forEach((s, k) => assertClose(out[k], s, { atol: 1e-4 }, `${path} state ${k}`));
    assertClose(out.at(-1)!, want.logits, { atol: 1e-4, rtol: 1e-5 }, `${path} logits`);
  }
  m.dispose();
});

test("roberta: gradients of every weight match finite differences", async (rng) => {
  const m = new RobertaModel(config(), 3, { lmHead: true }).eval();
  randomize(m, rng);
  const input = paddedBatch(rng, [6, 3], SMALL.vocab_size);
  const P = await params(m);
  // loss = sum, over every hidden state and the logits, of output * R (R random).
  const first = reference(P, m, input);
  const R = [...first.states, first.logits].map((s) => Float64Array.from(s, () => rng.normal()));
  tidy(() => {
    const terms = trainable(m, input).map((o, k) =>
      sumAll(mul(o, Tensor.from(Float32Array.from(R[k]), o.shape)))
    );
    backward(terms.reduce((a, b) => add(a, b)));
  });
  const loss = () => {
    const out = reference(P, m, input);
    return [...out.states, out.logits].reduce(
      (sum, o, k) => o.reduce((acc, v, i) => acc + v * R[k][i], sum),
      0,
    );
  };
  const used = [...new Set(Array.from(input.inputIds))];
  const H = m.dims.hidden, eps = 1e-5, bad: string[] = [];
  for (const [name, t] of m.namedParameters()) {
    const grad = await read(t.grad!), w = P.get(name)!;
    for (let n = 0; n < 3; n++) {
      // Rows of ids in the batch: other embedding rows have no gradient to check.
      const i = name === "embeddings.word_embeddings.weight"
        ? used[rng.int(0, used.length)] * H + rng.int(0, H)
        : rng.int(0, w.length);
      const v = w[i];
      w[i] = v + eps;
      const up = loss();
      w[i] = v - eps;
      const down = loss();
      w[i] = v;
      const fd = (up - down) / (2 * eps);
      const err = Math.abs(grad[i] - fd) / (1 + Math.abs(fd));
      if (!(err < 1e-4)) bad.push(`${name}[${i}]: autograd ${grad[i]}, finite difference ${fd}`);
    }
  }
  assert.deepEqual(bad, []);
  m.dispose();
});

test("roberta: the inference path gives forward's values, for any hidden states kept", async (rng) => {
  const m = new RobertaModel(config(), 4, { lmHead: true }).eval();
  randomize(m, rng);
  const input = paddedBatch(rng, [5, 8, 2], SMALL.vocab_size);
  const frozen = FrozenRoberta.fromModel(m);
  const [a0, a1, a2, aLogits] = await run(() => trainable(m, input));
  const [b2, b0] = await run(() => {
    const states = frozen.hiddenStates(input, { keep: [2, 0] });
    return [...states, frozen.mlmLogits(states[0])];
  });
  const [c1] = await run(() => frozen.hiddenStates(input, { keep: [1] }));
  const [bLogits] = await run(() => [frozen.mlmLogits(frozen.hiddenStates(input)[2])]);
  // The same modules and kernels, taped or not, all layers run or not: the same bits.
  for (const [got, want, what] of [[b0, a0, "0"], [c1, a1, "1"], [b2, a2, "2"]] as const) {
    assertClose(got, want, { atol: 0 }, `hidden state ${what}`);
  }
  assertClose(bLogits, aLogits, { atol: 0 }, "logits");
  // A model in train mode is run without dropout, and left in train mode.
  m.train(true);
  const [d2] = await run(() => frozen.hiddenStates(input, { keep: [2] }));
  assert.ok(m.training && m.encoder.layers[1].attention.self.dropout.training);
  assertClose(d2, a2, { atol: 0 }, "hidden state 2 of a model in train mode");
  assert.throws(() => frozen.hiddenStates(input, { keep: [3] }), /hidden state 3 does not exist/);
  frozen.dispose();
  m.dispose();
});

// f16 inference (weights and activations f16; layer norm and softmax statistics f32) against
// f32 on the tiny preset's shape with weights of a trained model's scale (std 0.05). Measured
// over 40 seeds: the RMS error of every hidden state and of the logits at most 1.0e-3 of their
// RMS; the largest single hidden-state error 6.5e-3 (on values of RMS ~1).
test("roberta: f16 inference vs f32", async (rng) => {
  const m = new RobertaModel(
    config({
      hidden_size: 64,
      intermediate_size: 128,
      vocab_size: 300,
      max_position_embeddings: 40,
    }),
    5,
    { lmHead: true },
  ).eval();
  randomize(m, rng, 0.05);
  const input = paddedBatch(rng, [32, 20, 9, 27], 300);
  const f32 = FrozenRoberta.fromModel(m), f16 = FrozenRoberta.fromModel(m, { f16: true });
  const outputs = (f: FrozenRoberta) => () => {
    const states = f.hiddenStates(input);
    return [...states, f.mlmLogits(states.at(-1)!)];
  };
  const want = await run(outputs(f32)), got = await run(outputs(f16));
  const worst = { rel: 0, abs: 0 };
  got.forEach((g, k) => {
    const diff = g.map((v, i) => v - want[k][i]);
    worst.rel = Math.max(worst.rel, rms(diff) / rms(want[k]));
    if (k < got.length - 1) worst.abs = Math.max(worst.abs, ...diff.map(Math.abs));
  });
  console.log(
    `f16 vs f32: relative RMS error ${worst.rel.toExponential(2)}, ` +
      `largest hidden-state error ${worst.abs.toExponential(2)}`,
  );
  assert.ok(worst.rel < 2e-3, `relative RMS error ${worst.rel}`);
  assert.ok(worst.abs < 2e-2, `largest error ${worst.abs}`);
  f16.dispose();
  f32.dispose();
  m.dispose();
}, { ignore: !hasF16 });

test("roberta: folders in transformers' layouts load into both paths", async (rng) => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_roberta_" });
  const m = new RobertaModel(config(), 6, { lmHead: true }).eval();
  randomize(m, rng);
  const input = paddedBatch(rng, [6, 4], SMALL.vocab_size);
  try {
    // As RobertaForMaskedLM saves: encoder under "roberta.", no lm_head.decoder (tied).
    await m.save(join(dir, "mlm"));
    const file = await openSafetensors(join(dir, "mlm", "model.safetensors"));
    const names = [...file.tensors.keys()];
    file.close();
    assert.ok(names.includes("roberta.embeddings.word_embeddings.weight"));
    assert.ok(names.every((n) => n.startsWith("roberta.encoder.") || !n.includes("encoder.")));
    assert.ok(!names.includes("lm_head.decoder.weight"));
    const loaded = await RobertaModel.load(join(dir, "mlm"));
    assert.ok(loaded.lm_head && !loaded.training);
    const mine = await params(m), theirs = await params(loaded);
    for (const [name, v] of mine) assertClose(theirs.get(name)!, v, { atol: 0 }, name);
    loaded.dispose();
    const want = await run(() => trainable(m, input));
    // Whole, and with the word-embedding table in pieces (as past a storage-binding limit).
    for (const tableRows of [undefined, 7]) {
      const frozen = await FrozenRoberta.fromFolder(join(dir, "mlm"), { tableRows });
      const got = await run(() => {
        const states = frozen.hiddenStates(input);
        return [...states, frozen.mlmLogits(states.at(-1)!)];
      });
      frozen.dispose();
      got.forEach((g, k) => assertClose(g, want[k], { atol: 1e-6 }, `${tableRows} output ${k}`));
    }

    // A bare RobertaModel checkpoint: no prefix, no head (and a pooler, which is ignored).
    const encoder = m.namedParameters().filter(([n]) => !n.startsWith("lm_head."));
    const entries = await Promise.all(encoder.map(async ([name, t]) => ({
      name,
      dtype: "F32" as const,
      shape: t.shape,
      data: await t.data(),
    })));
    const h = m.dims.hidden;
    entries.push({
      name: "pooler.dense.weight",
      dtype: "F32",
      shape: [h, h],
      data: new Float32Array(h * h),
    });
    await writeModelFolder(join(dir, "bare"), m.config, entries);
    const bare = await RobertaModel.load(join(dir, "bare"));
    assert.equal(bare.lm_head, null);
    const [s2] = await run(() => [bare.forward(input)[2]]);
    assertClose(s2, want[2], { atol: 1e-6 }, "bare checkpoint, last hidden state");
    bare.dispose();
    // The same checkpoint in shards (model.safetensors.index.json), as large models ship.
    await writeModelFolder(join(dir, "sharded"), m.config, entries, { maxShardBytes: 16384 });
    const shards = [...Deno.readDirSync(join(dir, "sharded"))].filter((e) => /-of-/.test(e.name));
    assert.ok(shards.length > 1, `${shards.length} shards`);
    const sharded = await RobertaModel.load(join(dir, "sharded"));
    const [s3] = await run(() => [sharded.forward(input)[2]]);
    assertClose(s3, want[2], { atol: 1e-6 }, "sharded checkpoint, last hidden state");
    sharded.dispose();
    await assert.rejects(RobertaModel.load(join(dir, "bare"), { lmHead: true }), /missing lm_head/);
    const frozenBare = await FrozenRoberta.fromFolder(join(dir, "bare"));
    assert.throws(
      () => tidy(() => frozenBare.mlmLogits(frozenBare.hiddenStates(input)[2])),
      /no lm_head.dense.weight/,
    );
    frozenBare.dispose();
  } finally {
    m.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

test("roberta: the inference path holds only the hidden states kept", (rng) => {
  const m = new RobertaModel(config({ num_hidden_layers: 4 }), 7).eval();
  const input = paddedBatch(rng, [10, 7, 9], SMALL.vocab_size);
  const frozen = FrozenRoberta.fromModel(m);
  const measure = (keep: number[] | "all") => {
    pool.resetPeaks();
    const before = pool.stats.bytesInUse, live = liveTensors();
    const out = frozen.hiddenStates(input, { keep });
    const r = {
      peak: pool.stats.peakBytesInUse - before,
      held: pool.stats.bytesInUse - before,
      tensors: liveTensors() - live,
    };
    out.forEach((t) => t.dispose());
    return r;
  };
  const one = measure([1]), state = one.held;
  assert.equal(one.tensors, 1);
  // Four layers peak exactly as high as one: each layer's activations are gone before the next.
  assert.deepEqual(measure([4]), one);
  const some = measure([0, 2]);
  assert.deepEqual([some.held, some.tensors], [2 * state, 2]);
  const all = measure("all");
  assert.deepEqual([all.held, all.tensors], [5 * state, 5]);
  // The trainable path keeps every activation for the backward pass.
  pool.resetPeaks();
  const before = pool.stats.bytesInUse;
  tidy(() => {
    m.forward(input);
  });
  const trained = pool.stats.peakBytesInUse - before;
  console.log(
    `peak bytes: inference, last state ${one.peak}, all ${all.peak}; trainable ${trained}`,
  );
  assert.ok(trained > 2 * all.peak);
  frozen.dispose();
  m.dispose();
});

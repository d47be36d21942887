// The LAMA probing MLM layer over cat(last hidden state, adapter outputs) with a tiny random
// encoder and two random adapters: its mask-row logits equal a float64 host W·x + b of the
// downloaded features and training moves the layer only; training on a tiny repetitive
// corpus lowers the masked-token loss; the folder round-trips and refuses other adapters;
// stop + --resume ends with the bytes of a straight run; and `probe lama --adapters --mlm`
// probes both models on the same queries, the adapter model's ranks matching a host
// computation of single queries. Without adapters (k = 0) the layer reads the last hidden
// state alone: its logits match a host W·h + b, it learns, and `probe lama --mlm` uses it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { writeArrow } from "../../src/formats/arrow_write.ts";
import { convert } from "../../src/formats/convert/convert.ts";
import { openSafetensors } from "../../src/formats/safetensors.ts";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { adapterConfig } from "../../src/models/adapter_config.ts";
import { saveAdapterFolder } from "../../src/models/adapter_folder.ts";
import { baseModelInfo } from "../../src/models/encoder_identity.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { maskTensor } from "../../src/models/roberta_inputs.ts";
import { AdamW } from "../../src/nn/optim.ts";
import { Examples } from "../../src/tasks/examples.ts";
import { planQueries, readLamaQueries } from "../../src/tasks/lama_data.ts";
import { AdapterFeatures } from "../../src/models/adapter_features.ts";
import { loadAdapters } from "../../src/models/named_adapters.ts";
import { loadProbeMlm, saveProbeMlm } from "../../src/tasks/probe_mlm_folder.ts";
import { ProbeMlmLayer, probeMlmTask } from "../../src/tasks/probe_mlm_layer.ts";
import { type ProbeMlmOptions, trainProbeMlm } from "../../src/runs/probe_mlm.ts";
import { maskedBatch } from "../../src/tasks/mlm.ts";
import { probeLama } from "../../src/cli/probe.ts";
import { backward, full, indexSelect, reshape, Tensor, tidy } from "../../src/tensor/mod.ts";
import { test } from "../setup.ts";

const root = await Deno.makeTempDir({ prefix: "kadapter_probe_mlm_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

/** A tiny model folder and adapter folders trained (randomly) on it. */
async function makeModel(dir: string, merges: number, lmHead: boolean): Promise<number> {
  const vocab = await writeRobertaTokenizer(dir, { merges, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 3, { lmHead });
  await m.save(dir);
  m.dispose();
  return vocab;
}
async function makeAdapter(
  dir: string,
  name: string,
  list: number[],
  seed: number,
  vocab: number,
) {
  // adapter_mask "padding": outputs independent of a batch's padding.
  const c = adapterConfig(64, 2, {
    adapterHidden: 32,
    heads: 2,
    intermediate: 64,
    layers: 1,
    adapterList: list,
    mask: "padding",
  });
  const a = new AdapterModel(c, seed);
  await saveAdapterFolder(dir, a, {
    name,
    task: name,
    base: { model_type: "roberta", hidden_size: 64, num_hidden_layers: 2, vocab_size: vocab },
  });
  a.dispose();
}

const modelDir = join(root, "tiny");
const vocab = await makeModel(modelDir, 2000, false);
const facDir = join(root, "fac"), linDir = join(root, "lin");
await makeAdapter(facDir, "fac", [0, 1], 11, vocab);
await makeAdapter(linDir, "lin", [1, 2], 12, vocab);
const tok = await RobertaTokenizer.fromFolder(modelDir);
/** What loadAdapters checks the adapters against: this encoder and tokenizer. */
const fit = (e: FrozenRoberta, t = tok) => ({ base: baseModelInfo(e.dims, t), say: () => {} });
const ADAPTERS = [{ name: "fac", dir: facDir }, { name: "lin", dir: linDir }];

const SUBJECTS = ["the cat", "a dog", "my bird", "the horse"];
const PLACES = ["on the mat", "in the house", "near the river", "under the tree"];
const lines = Array.from({ length: 48 }, (_, i) =>
  i % 12 === 5
    ? "" // WikiText's empty lines are skipped.
    : `${SUBJECTS[i % 4]} sat ${PLACES[(i >> 2) % 4]} and the sun was warm .`);
const corpus = join(root, "corpus.arrow");
await writeArrow(corpus, "text", lines.map((text) => ({ text })));

const quiet = { write: () => {}, tty: false };
function options(out: string, over: Partial<ProbeMlmOptions> = {}): ProbeMlmOptions {
  return {
    model: modelDir,
    adapters: ADAPTERS,
    corpus,
    out,
    batch: 8,
    lr: 1e-2,
    epochs: 2,
    warmup: 0,
    weightDecay: 0,
    maxGradNorm: 1,
    maxLength: 32,
    seed: 5,
    evalBatch: 16,
    logEvery: 1,
    f16: false,
    resume: false,
    progress: quiet,
    say: () => {},
    ...over,
  };
}

const host = async (t: Tensor) => Float64Array.from(await t.data());

test("mask-row logits = float64 W·x + b; only the layer gets gradients and moves", async () => {
  const encoder = await FrozenRoberta.fromFolder(modelDir, { lmHead: false });
  const adapters = await loadAdapters(ADAPTERS, encoder, fit(encoder));
  const layer = new ProbeMlmLayer(64, 2, encoder.dims.vocab, 9);
  try {
    const features = new AdapterFeatures(encoder, adapters.map((a) => a.adapter), 32);
    const ex = new Examples(encoder.dims.vocab);
    for (const l of lines.filter((x) => x !== "").slice(0, 5)) {
      ex.add({ ids: tok.encode(l + (l.length % 3 ? " more words" : "")).ids });
    }
    const m = {
      probability: 0.15,
      maskId: tok.maskId,
      vocab: tok.vocabSize,
      specials: new Set([tok.bosId, tok.eosId, tok.padId, tok.maskId]),
    };
    const b = maskedBatch(ex, [0, 1, 2, 3, 4], m, tok.padId, 3);
    assert.ok(b.rows.length >= 5);
    const V = encoder.dims.vocab, D = 3 * 64;
    const outs = tidy(() => {
      const f = features.features(b.batch);
      const ids = Tensor.from(b.rows, [b.rows.length], "i32");
      return [
        ...f.map((p) => indexSelect(reshape(p, [p.shape[0] * p.shape[1], 64]), 0, ids)),
        layer.logits(f, b.rows),
      ];
    });
    const x = await Promise.all(outs.slice(0, 3).map(host)), got = await host(outs[3]);
    const w = await host(layer.decoder.weight), bias = await host(layer.decoder.bias);
    outs.forEach((t) => t.dispose());
    assert.deepEqual([got.length], [b.rows.length * V]);
    let worst = 0;
    for (let r = 0; r < b.rows.length; r++) {
      const feat = [...x.map((p) => p.subarray(r * 64, (r + 1) * 64))].flatMap((p) => [...p]);
      for (let v = 0; v < V; v += 7) {
        let s = bias[v];
        for (let j = 0; j < D; j++) s += w[v * D + j] * feat[j];
        worst = Math.max(worst, Math.abs(s - got[r * V + v]));
      }
    }
    assert.ok(worst < 1e-4, `max |logit - host| ${worst}`);

    // Gradients: the layer's only; a few AdamW steps leave the adapters bit-identical.
    const frozen = adapters.flatMap((a) => a.adapter.namedParameters());
    const before = await Promise.all(frozen.map(([, t]) => t.data().then((d) => d.slice())));
    const layerBefore = await layer.decoder.weight.data().then((d) => d.slice());
    const opt = new AdamW(layer.namedParameters(), { lr: 1e-2, weightDecay: 0, maxGradNorm: 0 });
    const task = probeMlmTask(
      { tok, maxLength: 64, vocab: encoder.dims.vocab, padId: tok.padId },
      m,
      3,
    );
    try {
      for (let step = 0; step < 3; step++) {
        tidy(() => {
          // The shipping loss: the same masked batch (examples 0-4, seed 3) through the task.
          const loss = task.loss({ features, layer }, ex, [0, 1, 2, 3, 4]);
          backward(loss, full(loss.shape, 1));
        });
        assert.ok(layer.decoder.weight.grad && layer.decoder.bias.grad);
        for (const [n, t] of frozen) assert.equal(t.grad, null, `${n} has a gradient`);
        opt.update().dispose();
        opt.zeroGrad();
      }
    } finally {
      opt.dispose();
    }
    const after = await Promise.all(frozen.map(([, t]) => t.data()));
    frozen.forEach(([n], i) => assert.deepEqual(after[i], before[i], n));
    assert.notDeepEqual(await layer.decoder.weight.data(), layerBefore, "the layer moved");
  } finally {
    layer.dispose();
    adapters.forEach((a) => a.adapter.dispose());
    encoder.dispose();
  }
});

test("training lowers the masked-token loss; folder round trip; other adapters refused", async () => {
  const r = await trainProbeMlm(
    options(join(root, "learn"), { steps: 40, dev: corpus, evalEvery: 40 }),
  );
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last] = [mean(r.losses.slice(0, 3)), mean(r.losses.slice(-5))];
  console.log(`masked-token loss ${first} -> ${last}; dev ${JSON.stringify(r.dev)}`);
  assert.ok(last < first - 3, `loss ${first} -> ${last}`);
  assert.ok(r.dev!.loss < first - 3 && r.dev!.accuracy > 0.3, JSON.stringify(r.dev));
  assert.equal(r.best?.metric, "loss");
  for (const f of ["metrics.jsonl", "curves.svg", "checkpoint", "mlm", "best"]) {
    assert.ok(await Deno.stat(join(root, "learn", f)), f);
  }
  const cfg = JSON.parse(await Deno.readTextFile(join(r.mlmDir, "mlm_config.json")));
  assert.equal(cfg.format, "kadapter-probe-mlm/1");
  assert.deepEqual(cfg.adapters.map((a: { name: string }) => a.name), ["fac", "lin"]);
  assert.equal(cfg.in_features, 3 * 64);

  // Round trip: the loaded layer gives the saved weights and the same scores as the original.
  const encoder = await FrozenRoberta.fromFolder(modelDir, { lmHead: false });
  const adapters = await loadAdapters(ADAPTERS, encoder, fit(encoder));
  const d = encoder.dims, summaries = adapters.map((a) => a.summary);
  const original = new ProbeMlmLayer(64, 2, d.vocab, 21);
  const dir = join(root, "roundtrip");
  try {
    await saveProbeMlm(dir, original, {
      base: { model_type: "roberta", hidden_size: 64, num_hidden_layers: 2, vocab_size: d.vocab },
      adapters: summaries,
    });
    const { layer } = await loadProbeMlm(dir, d, summaries);
    try {
      const features = new AdapterFeatures(encoder, adapters.map((a) => a.adapter), 32);
      const input = tok.padBatch([tok.encode("the cat sat on the mat").ids]);
      const rows = [1, 2, 4];
      const [a, b] = tidy(() => {
        const f = features.features(input);
        return [original.logits(f, rows), layer.logits(f, rows)];
      });
      assert.deepEqual(await a.data(), await b.data());
      a.dispose(), b.dispose();
    } finally {
      layer.dispose();
    }
    // Trained on fac,lin: one adapter, or the two swapped, are refused with what differs.
    await assert.rejects(
      loadProbeMlm(dir, d, summaries.slice(0, 1)),
      /trained on 2 adapter\(s\) \(fac,lin\); 1 given \(fac\)/,
    );
    await assert.rejects(
      loadProbeMlm(dir, d, [summaries[1], summaries[0]]),
      /adapter 1 was "fac".*given "lin".*adapter_list \[0,1\] vs \[1,2\]/,
    );
    await assert.rejects(
      loadProbeMlm(dir, { ...d, hidden: 32 }, summaries),
      /hidden_size 64 and 2 layers; this encoder has 32/,
    );
  } finally {
    original.dispose();
    adapters.forEach((x) => x.adapter.dispose());
    encoder.dispose();
  }
});

test("k = 0 (last state alone): logits = float64 W·h + b; loss falls; --mlm probes it", async () => {
  const r = await trainProbeMlm(options(join(root, "k0"), { adapters: [], steps: 40 }));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last] = [mean(r.losses.slice(0, 3)), mean(r.losses.slice(-5))];
  console.log(`k = 0: masked-token loss ${first} -> ${last}`);
  assert.ok(last < first - 2, `loss ${first} -> ${last}`);
  const cfg = JSON.parse(await Deno.readTextFile(join(r.mlmDir, "mlm_config.json")));
  assert.deepEqual(cfg.adapters, []);
  assert.equal(cfg.in_features, 64);

  const encoder = await FrozenRoberta.fromFolder(modelDir, { lmHead: false });
  const d = encoder.dims;
  const { layer } = await loadProbeMlm(r.mlmDir, d, []);
  try {
    const input = tok.padBatch([
      tok.encode("the cat sat on the mat").ids,
      tok.encode("a dog sat near the river and the sun was warm").ids,
    ]);
    const rows = [1, 3, input.seqLen + 2, input.seqLen + 5];
    const [logits, last] = tidy(() => {
      const f = new AdapterFeatures(encoder, [], 32).features(input);
      const [h] = encoder.hiddenStates(input, { keep: [2] });
      return [layer.logits(f, rows), h];
    });
    const got = await host(logits), x = await host(last);
    logits.dispose(), last.dispose();
    const w = await host(layer.decoder.weight), bias = await host(layer.decoder.bias);
    let worst = 0;
    rows.forEach((row, i) => {
      for (let v = 0; v < d.vocab; v += 5) {
        let s = bias[v];
        for (let j = 0; j < 64; j++) s += w[v * 64 + j] * x[row * 64 + j];
        worst = Math.max(worst, Math.abs(s - got[i * d.vocab + v]));
      }
    });
    assert.ok(worst < 1e-4, `max |logit - host| ${worst}`);
  } finally {
    layer.dispose();
  }
  const [fac] = await loadAdapters(ADAPTERS.slice(0, 1), encoder, fit(encoder));
  try {
    await assert.rejects(
      loadProbeMlm(r.mlmDir, d, [fac.summary]),
      /trained on 0 adapter\(s\) \(none\); 1 given \(fac\)/,
    );
  } finally {
    fac.adapter.dispose();
    encoder.dispose();
  }

  // probe lama --mlm without --adapters: the folder has no lm_head, so only the k = 0 layer.
  const lamaFile = join(root, "k0_lama.arrow");
  await writeArrow(lamaFile, "lama", [
    {
      relation: "R",
      sub_label: "s",
      obj_label: "the",
      masked_sentence: "a dog sat near [MASK] river .",
      source: "test",
    },
  ]);
  const said: string[] = [], log = console.log;
  console.log = (...x: unknown[]) => said.push(x.join(" "));
  const out = join(root, "k0_probe");
  try {
    const args = { model: modelDir, data: lamaFile, out, batch: "2", "top-k": "2" };
    assert.equal(await probeLama.run({ ...args, mlm: r.mlmDir }), 0);
    await assert.rejects(probeLama.run({ ...args, adapters: `fac=${facDir}` }), /goes with --mlm/);
  } finally {
    console.log = log;
  }
  assert.ok(said.some((l) => /no masked-LM head.*the encoder through the MLM layer/.test(l)));
  const res = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.deepEqual(Object.keys(res.models), ["encoder+mlm"]);
  assert.equal(res.micro.n, 1);
});

test("stop + --resume equals a straight run; an existing run needs --resume", async () => {
  const over = { steps: 14, checkpointEvery: 4 };
  const straight = await trainProbeMlm(options(join(root, "straight"), over));
  const out = join(root, "cut");
  let calls = 0;
  const cut = await trainProbeMlm(options(out, { ...over, stop: () => ++calls > 12 }));
  assert.ok(cut.interrupted && cut.step > 0 && cut.step < 14, `stopped at ${cut.step}`);
  await assert.rejects(trainProbeMlm(options(out, over)), /already holds a run; pass --resume/);
  await assert.rejects(
    trainProbeMlm(options(out, { ...over, resume: true, lr: 1e-3 })),
    /lr was 0.01, now 0.001/,
  );
  const resumed = await trainProbeMlm(options(out, { ...over, resume: true }));
  assert.equal(resumed.step, 14);
  const bytes = (dir: string) => Deno.readFile(join(dir, "mlm.safetensors"));
  assert.deepEqual(await bytes(resumed.mlmDir), await bytes(straight.mlmDir));
});

test("probe lama --adapters --mlm: both models on the same queries; ranks as computed alone", async () => {
  // GPT-2's whole BPE, so that some of the world's objects are single tokens.
  const big = join(root, "big"), adapterDir = join(root, "big_fac");
  const bigVocab = await makeModel(big, 50000, true);
  await makeAdapter(adapterDir, "fac", [0, 2], 13, bigVocab);
  const bigTok = await RobertaTokenizer.fromFolder(big);
  const runDir = join(root, "big_mlm");
  const adapters = [{ name: "fac", dir: adapterDir }];
  await trainProbeMlm(options(runDir, { model: big, adapters, steps: 2, lr: 1e-3 }));
  const WORLD = new URL("../../data/world/", import.meta.url).pathname;
  const lama = join(root, "lama.arrow");
  await convert("lama-trex", join(WORLD, "facts.jsonl"), lama, {
    relations: join(WORLD, "relations.jsonl"),
  });
  const out = join(root, "probe");
  const log = console.log;
  console.log = () => {};
  let code;
  try {
    code = await probeLama.run({
      model: big,
      data: lama,
      out,
      batch: "16",
      "top-k": "3",
      adapters: `fac=${adapterDir}`,
      mlm: join(runDir, "mlm"),
    });
  } finally {
    console.log = log;
  }
  assert.equal(code, 0);
  const res = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  const { queries } = await planQueries(readLamaQueries(lama), bigTok, {});
  assert.ok(queries.length > 0);
  assert.deepEqual(Object.keys(res.models), ["encoder", "encoder+adapters"]);
  for (const m of Object.values(res.models) as { micro: { n: number } }[]) {
    assert.equal(m.micro.n, queries.length);
  }
  assert.deepEqual(res.relations, res.models.encoder.relations, "top level: the encoder's");
  const preds = (await Deno.readTextFile(join(out, "predictions.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(preds.length, 2 * queries.length);
  const withAdapters = preds.filter((p) => p.model === "encoder+adapters");
  assert.equal(withAdapters.length, queries.length);

  // Independent: each of a few queries alone through encoder, adapter and a host W·x + b.
  const encoder = await FrozenRoberta.fromFolder(big, { lmHead: false });
  const [fac] = await loadAdapters(adapters, encoder, fit(encoder, bigTok));
  const file = await openSafetensors(join(runDir, "mlm", "mlm.safetensors"));
  try {
    const w = await file.readF32("decoder.weight"), bias = await file.readF32("decoder.bias");
    const V = encoder.dims.vocab, D = 128;
    for (const i of [0, Math.floor(queries.length / 2), queries.length - 1]) {
      const q = queries[i];
      const [last, ad] = tidy(() => {
        const input = bigTok.padBatch([q.ids]);
        const [h0, h2] = encoder.hiddenStates(input, { keep: [0, 2] });
        const a = fac.adapter.forward([h0, h2], maskTensor(input));
        return [h2, a].map((t) =>
          indexSelect(reshape(t, [q.ids.length, 64]), 0, Tensor.from([q.maskPos], [1], "i32"))
        );
      });
      const x = [...await host(last), ...await host(ad)];
      last.dispose(), ad.dispose();
      const s = new Float64Array(V);
      for (let v = 0; v < V; v++) {
        let acc = bias[v];
        for (let j = 0; j < D; j++) acc += w[v * D + j] * x[j];
        s[v] = acc;
      }
      // The rank, allowing for f32 rounding of near-ties with the gold's score.
      const gold = s[q.objId], eps = 1e-5;
      const lo = 1 + s.filter((y) => y > gold + eps).length;
      const hi = 1 + s.filter((y) => y > gold - eps).length - 1;
      assert.equal(withAdapters[i].text, q.text);
      const got = withAdapters[i].rank;
      assert.ok(lo <= got && got <= hi, `query ${i}: rank ${got}, host ${lo}..${hi}`);
    }
  } finally {
    file.close();
    fac.adapter.dispose();
    encoder.dispose();
  }
});

test("probe lama: a folder without lm_head probes the adapter model only; flag checks", async () => {
  const objs = ["the", "a", "and", "was"];
  for (const o of objs) assert.equal(tok.encodeText(" " + o).length, 1, o);
  const lamaFile = join(root, "small_lama.arrow");
  await writeArrow(
    lamaFile,
    "lama",
    objs.map((o, i) => ({
      relation: `R${i % 2}`,
      sub_label: `s${i}`,
      obj_label: o,
      masked_sentence: `${SUBJECTS[i]} sat [MASK] house .`,
      source: "test",
    })),
  );
  const said: string[] = [];
  const log = console.log;
  console.log = (...x: unknown[]) => said.push(x.join(" "));
  const run = (over: Record<string, string | boolean>) =>
    probeLama.run({
      model: modelDir,
      data: lamaFile,
      out: join(root, "small_probe"),
      batch: "2",
      "top-k": "2",
      ...over,
    });
  try {
    // The layer trained above on fac,lin (the second test's run).
    const mlm = join(root, "learn", "mlm");
    assert.equal(await run({ adapters: `fac=${facDir},lin=${linDir}`, mlm }), 0);
    await assert.rejects(
      // The same --out again: --overwrite, or it is refused before anything loads.
      run({ adapters: `fac=${facDir}`, mlm, overwrite: true }),
      /trained on 2 adapter\(s\) \(fac,lin\); 1 given \(fac\)/,
    );
  } finally {
    console.log = log;
  }
  assert.ok(said.some((l) => /no masked-LM head.*probing only the encoder \+ adapters/.test(l)));
  const res = JSON.parse(await Deno.readTextFile(join(root, "small_probe", "results.json")));
  assert.deepEqual(Object.keys(res.models), ["encoder+adapters"]);
  assert.equal(res.micro.n, objs.length);
  const preds = (await Deno.readTextFile(join(root, "small_probe", "predictions.jsonl"))).trim()
    .split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(preds.map((p) => p.model), objs.map(() => "encoder+adapters"));
});

// Corrupted model and adapter folders: absurd sizes refused (naming the field) before anything
// is allocated, a config that declares fewer layers than its weights hold refused, NaN/Inf
// weights refused naming the tensor (loaded with a warning under allowNonFinite, also from the
// CLI), and a seeded loop of corrupted config.json / adapter_config.json variants each refused
// with a UserError or loading consistently.
import assert from "node:assert/strict";
import { join } from "node:path";
import { UserError } from "../../src/errors.ts";
import { ModelFolderError, parseConfig } from "../../src/formats/hf_config.ts";
import { openModelFolder } from "../../src/formats/hf_folder.ts";
import { openSafetensors, writeSafetensors } from "../../src/formats/safetensors.ts";
import type { SafetensorsEntry } from "../../src/formats/safetensors.ts";
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  AdapterFolderError,
  loadAdapter,
  readAdapterFolder,
  saveAdapterFolder,
} from "../../src/models/adapter_folder.ts";
import { adapterConfig } from "../../src/models/adapter_config.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { kadapter } from "../kadapter_cli.ts";
import { type Rng, test } from "../setup.ts";

const VOCAB = 50;
const tmp = await Deno.makeTempDir({ prefix: "kadapter_robust_" });
const QUERY = "encoder.layer.0.attention.self.query.weight";

/** A tiny 2-layer model folder (config.json, model.safetensors). */
async function tinyModel(dir: string): Promise<string> {
  const m = new RobertaModel(presetConfig("tiny", VOCAB), 1);
  await m.save(dir);
  m.dispose();
  return dir;
}

/** Rewrites one tensor of a safetensors file through `edit` (its values as f32). */
async function rewrite(path: string, name: string, edit: (v: Float32Array) => void) {
  const file = await openSafetensors(path), entries: SafetensorsEntry[] = [];
  try {
    for (const [n, info] of file.tensors) {
      const data = await file.readF32(n);
      if (n === name) edit(data);
      entries.push({ name: n, dtype: "F32", shape: info.shape, data });
    }
  } finally {
    file.close();
  }
  await writeSafetensors(path, entries, { format: "pt" });
}

async function editJson(path: string, edit: (j: Record<string, unknown>) => void) {
  const j = JSON.parse(await Deno.readTextFile(path));
  edit(j);
  await Deno.writeTextFile(path, JSON.stringify(j));
}

/** Runs `fn` with console.error captured; returns what it printed. */
async function stderrOf(fn: () => Promise<void>): Promise<string> {
  const orig = console.error, seen: string[] = [];
  console.error = (...a: unknown[]) => void seen.push(a.join(" "));
  try {
    await fn();
  } finally {
    console.error = orig;
  }
  return seen.join("\n");
}

const model = await tinyModel(join(tmp, "model"));
const base = presetConfig("tiny", VOCAB);

Deno.test("config.json: roberta-base and roberta-large's sizes pass", () => {
  for (const p of ["base", "large"] as const) parseConfig(presetConfig(p, 50265), p);
  // XLM-R's vocabulary and a long-position model are within bounds too.
  parseConfig({ ...presetConfig("large", 250002), max_position_embeddings: 65538 }, "x");
});

Deno.test("config.json: absurd sizes are refused at once, naming the field and bound", () => {
  const cases: [string, unknown, RegExp][] = [
    ["num_hidden_layers", 1e9, /num_hidden_layers 1000000000 is above 256/],
    ["hidden_size", 2 ** 30, /hidden_size 1073741824 is above 16384/],
    ["intermediate_size", 1e7, /intermediate_size 10000000 is above 131072/],
    ["vocab_size", 2 ** 25, /vocab_size 33554432 is above 16777216/],
    ["max_position_embeddings", 1e6, /max_position_embeddings 1000000 is above 65538/],
    ["type_vocab_size", 4096, /type_vocab_size 4096 is above 1024/],
    ["num_attention_heads", 1.5, /num_attention_heads must be a positive integer, not 1.5/],
    ["layer_norm_eps", Infinity, /layer_norm_eps must be a small positive number/],
    ["pad_token_id", VOCAB, /pad_token_id 50 is outside the vocabulary/],
  ];
  for (const [k, v, re] of cases) {
    const t0 = performance.now();
    assert.throws(() => parseConfig({ ...base, [k]: v }, "config.json"), (e) => {
      assert.ok(e instanceof ModelFolderError, String(e));
      assert.match(e.message, re);
      assert.match(e.message, /^config\.json: /);
      return true;
    });
    assert.ok(performance.now() - t0 < 100);
  }
});

test("config.json that declares fewer layers or another vocabulary than its weights", async () => {
  const dir = join(tmp, "one_layer");
  await tinyModel(dir);
  await editJson(join(dir, "config.json"), (j) => (j.num_hidden_layers = 1));
  await assert.rejects(
    RobertaModel.load(dir),
    (e: Error) =>
      e instanceof ModelFolderError &&
      /config\.json says 1 layer \(num_hidden_layers\), model\.safetensors holds 2: the config is not this model's/
        .test(e.message),
  );
  await editJson(join(dir, "config.json"), (j) => {
    j.num_hidden_layers = 2;
    j.vocab_size = VOCAB * 1000;
  });
  await assert.rejects(
    RobertaModel.load(dir),
    /vocab_size is 50000, but model\.safetensors's embeddings\.word_embeddings\.weight holds 50 rows/,
  );
});

test("NaN and Inf weights are refused naming the tensor; allowNonFinite warns", async () => {
  const dir = join(tmp, "nan");
  await tinyModel(dir);
  await rewrite(join(dir, "model.safetensors"), QUERY, (v) => {
    v[3] = NaN;
    v[7] = Infinity;
  });
  await assert.rejects(RobertaModel.load(dir), (e: Error) => {
    assert.ok(e instanceof ModelFolderError);
    assert.match(e.message, /model\.safetensors: tensor encoder\.layer\.0\.attention\.self/);
    assert.match(e.message, /query\.weight holds 2 NaN\/Inf values; the weights are damaged/);
    assert.match(e.message, /--allow-nonfinite/);
    return true;
  });
  let m: RobertaModel | null = null;
  const warned = await stderrOf(async () => {
    m = await RobertaModel.load(dir, { allowNonFinite: true });
  });
  assert.match(warned, /^warning: .*model\.safetensors: tensor encoder\.layer\.0\.attention/);
  m!.dispose();
  // -Inf in the word table (kept in row pieces when large) is found too.
  await rewrite(join(dir, "model.safetensors"), QUERY, (v) => v.fill(0.01));
  await rewrite(
    join(dir, "model.safetensors"),
    "embeddings.word_embeddings.weight",
    (v) => (v[v.length - 1] = -Infinity),
  );
  await assert.rejects(
    RobertaModel.load(dir),
    /tensor embeddings\.word_embeddings\.weight holds 1 NaN\/Inf value;/,
  );
});

const H = 64,
  META = {
    name: "fac",
    task: "fac",
    base: { model_type: "roberta", hidden_size: H, num_hidden_layers: 2, vocab_size: VOCAB },
  };
const ADAPTER = adapterConfig(H, 2, {
  adapterHidden: 16,
  heads: 2,
  intermediate: 32,
  layers: 1,
  adapterList: [0, 1],
});
async function tinyAdapter(dir: string): Promise<string> {
  const a = new AdapterModel(ADAPTER, 2);
  await saveAdapterFolder(dir, a, META);
  a.dispose();
  return dir;
}
const adapter = await tinyAdapter(join(tmp, "adapter"));

Deno.test("adapter_config.json: absurd sizes and lists refused at once, naming the field", async () => {
  const cases: [(j: Record<string, unknown>) => void, RegExp][] = [
    [(j) => (j.adapter_transformer_layers = 1e6), /adapter_transformer_layers 1000000 is above 64/],
    [(j) => (j.adapter_size = 2 ** 20), /adapter_size 1048576 is above 16384/],
    [(j) => (j.intermediate_size = 1e9), /intermediate_size 1000000000 is above 131072/],
    [(j) => (j.adapter_list = Array(1e6).fill(0)), /adapter_list holds 1000000 entries/],
    [(j) => (j.adapter_list = [0, 1, 1]), /adapter_list \[0,1,1\] repeats a hidden state/],
    [(j) => (j.adapter_list = []), /adapter_list must be a non-empty array/],
    [(j) => (j.adapter_list = [0, 2.5]), /adapter_list entries \[2.5\] are not hidden states/],
    [(j) => (j.adapter_size = 15), /adapter_size 15 is not a multiple of num_attention_heads 2/],
    [
      (j) => ((j.base_model as Record<string, unknown>).num_hidden_layers = 1e9),
      /base_model\.num_hidden_layers 1000000000 is above 256/,
    ],
  ];
  const dir = join(tmp, "adapter_bad");
  for (const [edit, re] of cases) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir);
    await Deno.copyFile(join(adapter, ADAPTER_WEIGHTS), join(dir, ADAPTER_WEIGHTS));
    await Deno.copyFile(join(adapter, ADAPTER_CONFIG), join(dir, ADAPTER_CONFIG));
    await editJson(join(dir, ADAPTER_CONFIG), edit);
    const t0 = performance.now();
    await assert.rejects(readAdapterFolder(dir), (e: Error) => {
      assert.ok(e instanceof AdapterFolderError, String(e));
      assert.match(e.message, re);
      return true;
    });
    await assert.rejects(loadAdapter(dir), AdapterFolderError);
    assert.ok(performance.now() - t0 < 2000);
  }
});

test("adapter.safetensors with NaN: refused naming the tensor, allowNonFinite warns", async () => {
  const dir = await tinyAdapter(join(tmp, "adapter_nan"));
  const name = "adapter.1.up_project.weight";
  await rewrite(join(dir, ADAPTER_WEIGHTS), name, (v) => (v[0] = NaN));
  await assert.rejects(loadAdapter(dir), (e: Error) => {
    assert.ok(e instanceof AdapterFolderError);
    assert.match(e.message, /adapter\.safetensors: tensor adapter\.1\.up_project\.weight holds 1/);
    return true;
  });
  let loaded: AdapterModel | null = null;
  const warned = await stderrOf(async () => {
    loaded = (await loadAdapter(dir, undefined, { allowNonFinite: true })).adapter;
  });
  assert.match(warned, /warning: .*adapter\.1\.up_project\.weight holds 1 NaN\/Inf value/);
  loaded!.dispose();
});

/** A corruption of one JSON field: deleted, retyped, absurd, NaN-like or a string. */
function corrupt(j: Record<string, unknown>, rng: Rng): string {
  const keys = Object.keys(j), k = keys[rng.int(keys.length)];
  const values: unknown[] = [
    undefined,
    "12",
    null,
    [],
    {},
    true,
    -1,
    0,
    1e9,
    2 ** 31,
    1.5,
    1e308,
    -0.5,
    "NaN",
  ];
  const v = values[rng.int(values.length)];
  if (v === undefined) delete j[k];
  else j[k] = v;
  return `${k} = ${JSON.stringify(v)}`;
}

test("seeded corrupted config.json and adapter_config.json: a UserError or a consistent load", async (rng) => {
  const cfg = JSON.parse(await Deno.readTextFile(join(model, "config.json")));
  const dir = join(tmp, "fuzz_model");
  await Deno.mkdir(dir);
  await Deno.copyFile(join(model, "model.safetensors"), join(dir, "model.safetensors"));
  for (let i = 0; i < 30; i++) {
    const j = structuredClone(cfg), what = corrupt(j, rng);
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(j));
    try {
      const { config, weights } = await openModelFolder(dir);
      weights.close();
      // What loads is the model: the sizes are the original's.
      for (const k of ["hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size"]) {
        assert.equal(config[k], cfg[k], what);
      }
    } catch (e) {
      assert.ok(e instanceof UserError, `${what}: ${e}`);
      assert.ok(!(e as Error).message.includes("\n    at "), what);
    }
  }
  const acfg = JSON.parse(await Deno.readTextFile(join(adapter, ADAPTER_CONFIG)));
  const adir = join(tmp, "fuzz_adapter");
  await Deno.mkdir(adir);
  await Deno.copyFile(join(adapter, ADAPTER_WEIGHTS), join(adir, ADAPTER_WEIGHTS));
  for (let i = 0; i < 30; i++) {
    const j = structuredClone(acfg), what = corrupt(j, rng);
    await Deno.writeTextFile(join(adir, ADAPTER_CONFIG), JSON.stringify(j));
    try {
      const { adapter: a, config } = await loadAdapter(adir);
      a.dispose();
      assert.equal(config.adapterHidden, ADAPTER.adapterHidden, what);
      assert.equal(config.layers, ADAPTER.layers, what);
      assert.deepEqual(config.adapterList, ADAPTER.adapterList, what);
    } catch (e) {
      assert.ok(e instanceof UserError, `${what}: ${e}`);
    }
  }
});

Deno.test("kadapter encode on a NaN model: one paragraph, no stack; --allow-nonfinite warns", async () => {
  const dir = join(tmp, "cli");
  const init = await kadapter("model", "init", "--preset", "tiny", "--out", dir, "--seed", "1");
  assert.equal(init.code, 0, init.err);
  await rewrite(join(dir, "model.safetensors"), `roberta.${QUERY}`, (v) => (v[0] = NaN));
  const input = join(tmp, "lines.txt"), out = join(tmp, "out.safetensors");
  await Deno.writeTextFile(input, "Hello world\n");
  const r = await kadapter("encode", "--model", dir, "--input", input, "--out", out);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /tensor roberta\.encoder\.layer\.0\.attention\.self\.query\.weight holds 1/);
  assert.match(r.err, /--allow-nonfinite/);
  assert.doesNotMatch(r.err, /\n\s+at /);
  const ok = await kadapter(
    "encode",
    "--model",
    dir,
    "--input",
    input,
    "--out",
    out,
    "--allow-nonfinite",
  );
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /warning: .*holds 1 NaN\/Inf value; loading them anyway/);
});

Deno.test("--allow-nonfinite: on the commands that only read models, on no training command", async () => {
  const { COMMANDS } = await import("../../src/cli/commands.ts");
  const readers = Object.keys(COMMANDS).filter((n) =>
    /^(encode|eval |predict |probe lama|model convert)/.test(n)
  );
  assert.ok(readers.length >= 7, String(readers));
  for (const [name, c] of Object.entries(COMMANDS)) {
    const has = Object.hasOwn(c.spec.options, "allow-nonfinite");
    assert.equal(has, readers.includes(name), name);
  }
});

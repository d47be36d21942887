// Adapter folders: bit-exact round trips of adapter and fac/lin heads in every config mode,
// a folder without head, clear errors for mismatched weights and bad JSON (before any upload),
// and atomic replacement with recovery of a cut save.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  AdapterFolderError,
  type AdapterMeta,
  HEAD_CONFIG,
  HEAD_WEIGHTS,
  type HeadMeta,
  loadAdapter,
  loadHeadWeights,
  readAdapterFolder,
  saveAdapterFolder,
} from "../../src/models/adapter_folder.ts";
import { type AdapterConfig, adapterConfig } from "../../src/models/adapter_config.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { FacHead, LinHead } from "../../src/models/kadapter_heads.ts";
import {
  openSafetensors,
  type SafetensorsEntry,
  writeSafetensors,
} from "../../src/formats/safetensors.ts";
import type { Module } from "../../src/nn/module.ts";
import { Tensor } from "../../src/tensor/mod.ts";
import { run, test } from "../setup.ts";
import { withTempDir } from "../temp_dir.ts";

const H = 16, ENCODER_LAYERS = 2, B = 2, S = 3;
const tiny = (over: Partial<AdapterConfig> = {}) =>
  adapterConfig(H, ENCODER_LAYERS, {
    adapterHidden: 8,
    heads: 2,
    intermediate: 16,
    layers: 1,
    adapterList: [0, 1],
    ...over,
  });
const META: AdapterMeta = {
  name: "fac",
  task: "fac",
  tokenization: "original",
  base: {
    model_type: "roberta",
    hidden_size: H,
    num_hidden_layers: ENCODER_LAYERS,
    vocab_size: 50,
  },
  training: { lr: 5e-5, steps: 12, dev: { micro_f1: 0.25 } },
};
const FAC_META: HeadMeta = {
  task: "fac",
  config: { hidden: H, labels: 3, dropout: 0.1, layerNormEps: 1e-5 },
  labels: ["P17", "P131", "P150"],
  maxLength: 64,
  loss: "ce",
};

const withTemp = (fn: (dir: string) => Promise<void>) =>
  withTempDir((root) => fn(join(root, "adapter")));

async function values(m: Module): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [n, t] of m.namedParameters()) out.set(n, Float32Array.from(await t.data()));
  return out;
}

/** Same names and bit-identical values. */
async function assertSameParams(a: Module, b: Module, what: string): Promise<void> {
  const [va, vb] = [await values(a), await values(b)];
  assert.deepEqual([...va.keys()], [...vb.keys()], what);
  for (const [n, v] of va) {
    const w = vb.get(n)!;
    assert.ok(
      v.length === w.length && v.every((x, i) => Object.is(x, w[i])),
      `${what}: ${n} differs`,
    );
  }
}

async function assertDifferentParams(a: Module, b: Module): Promise<void> {
  const [va, vb] = [await values(a), await values(b)];
  assert.ok(
    [...va].some(([n, v]) => v.some((x, i) => x !== vb.get(n)![i])),
    "models built with different seeds have equal parameters (the round trip proves nothing)",
  );
}

/** Rewrites a weight file through `edit` (entries with their current F32 data). */
async function rewrite(path: string, edit: (es: SafetensorsEntry[]) => SafetensorsEntry[]) {
  const f = await openSafetensors(path), es: SafetensorsEntry[] = [];
  for (const [name, info] of f.tensors) {
    es.push({ name, dtype: info.dtype, shape: info.shape, data: await f.readF32(name) });
  }
  f.close();
  await writeSafetensors(path, edit(es));
}

async function editJson(path: string, edit: (j: Record<string, unknown>) => void) {
  const j = JSON.parse(await Deno.readTextFile(path));
  edit(j);
  await Deno.writeTextFile(path, JSON.stringify(j));
}

/** The error must be an AdapterFolderError whose message starts with `file` and matches all. */
async function assertFails(p: Promise<unknown>, file: string, ...patterns: RegExp[]) {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof AdapterFolderError, `expected an AdapterFolderError, got ${e}`);
  assert.ok(e.message.startsWith(file), `"${e.message}" does not start with ${file}`);
  for (const re of patterns) assert.match(e.message, re);
}

test("adapter folder: adapter and fac head round trip exactly in every mode", async (rng) => {
  const modes: Partial<AdapterConfig>[] = [
    {},
    { mask: "padding" },
    { combine: "concat" },
    { mask: "padding", combine: "concat", dropout: 0.25, layerNormEps: 1e-6, initStd: 0.02 },
  ];
  for (const mode of modes) {
    await withTemp(async (dir) => {
      const c = tiny(mode), what = JSON.stringify(mode);
      const saved = new AdapterModel(c, 5).eval(), head = new FacHead(FAC_META.config, 1);
      await saveAdapterFolder(dir, saved, META, { module: head, meta: FAC_META });

      const read = await readAdapterFolder(dir);
      assert.deepEqual(read.config, c, what);
      assert.deepEqual(read.meta, META);
      assert.deepEqual(read.head, FAC_META);

      // loadAdapter builds its model with seed 0 before loading.
      const seed0 = new AdapterModel(c, 0);
      await assertDifferentParams(saved, seed0);
      seed0.dispose();
      const { adapter, meta, config } = await loadAdapter(dir, { hidden: H, layers: 2 });
      assert.deepEqual(config, c, what);
      assert.deepEqual(meta, META);
      assert.equal(adapter.training, false);
      await assertSameParams(saved, adapter, what);
      const states = Array.from({ length: 2 }, () => rng.randn([B, S, H]).data);
      const mask = Tensor.from([0, 0, 0, 0, 0, -1e9], [B, 1, 1, S]);
      const [want, got] = await run(() =>
        [saved, adapter].map((m) => m.forward(states.map((s) => Tensor.from(s, [B, S, H])), mask))
      );
      assert.deepEqual(got, want, `${what}: forward outputs differ`);
      mask.dispose();

      const fresh = new FacHead(read.head!.config, 99);
      await assertDifferentParams(head, fresh);
      await loadHeadWeights(dir, fresh);
      await assertSameParams(head, fresh, "fac head");
      for (const m of [saved, adapter, head, fresh]) m.dispose();
    });
  }
});

test("adapter folder: lin head round trip; folder without a head", async () => {
  await withTemp(async (dir) => {
    const c = tiny(), saved = new AdapterModel(c, 3);
    const linMeta: HeadMeta = {
      task: "lin",
      config: { hidden: H, labels: 8, dropout: 0.1, layerNormEps: 1e-5 },
      labels: null,
      maxLength: 8,
      loss: null,
    };
    const head = new LinHead(linMeta.config, 2);
    await saveAdapterFolder(dir, saved, { ...META, name: "lin", task: "lin" }, {
      module: head,
      meta: linMeta,
    });
    const read = await readAdapterFolder(dir);
    assert.deepEqual(read.head, linMeta);
    assert.equal(read.meta.task, "lin");
    const fresh = new LinHead(read.head!.config, 7);
    await assertDifferentParams(head, fresh);
    await loadHeadWeights(dir, fresh);
    await assertSameParams(head, fresh, "lin head");

    // Saved again without a head: the old head files go with the old folder.
    const { training: _, ...noTraining } = META;
    await saveAdapterFolder(dir, saved, noTraining);
    const again = await readAdapterFolder(dir);
    assert.equal(again.head, null);
    assert.deepEqual(again.meta, noTraining);
    assert.ok(!("training" in again.meta));
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(),
      [
        ADAPTER_WEIGHTS,
        ADAPTER_CONFIG,
      ].sort(),
    );
    await assertFails(loadHeadWeights(dir, fresh), join(dir, HEAD_WEIGHTS), /cannot open/);
    for (const m of [saved, head, fresh]) m.dispose();
  });
});

test("adapter folder: mismatched weights are refused before any upload", async () => {
  await withTemp(async (dir) => {
    const saved = new AdapterModel(tiny(), 4), head = new FacHead(FAC_META.config, 1);
    await saveAdapterFolder(dir, saved, META, { module: head, meta: FAC_META });
    const weights = join(dir, ADAPTER_WEIGHTS);
    const original = await Deno.readFile(weights);
    const cases: [(es: SafetensorsEntry[]) => SafetensorsEntry[], RegExp[]][] = [
      [(es) => es.filter((e) => e.name !== "adapter.1.up_project.bias"), [
        /missing adapter\.1\.up_project\.bias/,
      ]],
      [
        (
          es,
        ) => [...es, {
          name: "adapter.2.up_project.bias",
          dtype: "F32",
          shape: [H],
          data: new Float32Array(H),
        }],
        [
          /unexpected adapter\.2\.up_project\.bias/,
        ],
      ],
      [
        (es) =>
          es.map((e) =>
            e.name === "adapter.0.down_project.weight"
              ? { ...e, shape: [8, 15], data: new Float32Array(8 * 15) }
              : e
          ),
        [/adapter\.0\.down_project\.weight is F32 \[8,15\], the model has F32 \[8,16\]/],
      ],
      [
        (es) =>
          es.map((e) =>
            e.name === "adapter.0.up_project.bias"
              ? { ...e, dtype: "F16", data: new Float16Array(H) }
              : e
          ),
        [/adapter\.0\.up_project\.bias is F16 \[16\], the model has F32 \[16\]/],
      ],
      // Every problem at once.
      [(es) => [
        ...es.filter((e) => !e.name.startsWith("adapter.0.")),
        {
          name: "fuse.1.weight",
          dtype: "F32",
          shape: [H, 2 * H],
          data: new Float32Array(2 * H * H),
        },
      ], [/^\S+: 2[0-9] problems: missing adapter\.0\.down_project\.weight; /, /and 1[0-9] more/]],
    ];
    for (const [edit, patterns] of cases) {
      await rewrite(weights, edit);
      await assertFails(loadAdapter(dir), weights, ...patterns);
      await Deno.writeFile(weights, original);
    }
    // The unchanged folder loads again (each failure left nothing behind).
    (await loadAdapter(dir)).adapter.dispose();

    // A head of another size: refused, and the module keeps its own weights.
    const other = new FacHead({ ...FAC_META.config, labels: 4 }, 9), before = await values(other);
    await assertFails(
      loadHeadWeights(dir, other),
      join(dir, HEAD_WEIGHTS),
      /out_proj\.weight is F32 \[3,16\], the model has F32 \[4,16\]/,
      /out_proj\.bias/,
    );
    assert.deepEqual(await values(other), before);
    for (const m of [saved, head, other]) m.dispose();
  });
});

test("adapter folder: bad JSON and the wrong encoder give clear errors", async () => {
  await withTemp(async (dir) => {
    const saved = new AdapterModel(tiny(), 4), head = new FacHead(FAC_META.config, 1);
    await saveAdapterFolder(dir, saved, META, { module: head, meta: FAC_META });
    const cfg = join(dir, ADAPTER_CONFIG), headCfg = join(dir, HEAD_CONFIG);
    const [cfgText, headText] = [await Deno.readTextFile(cfg), await Deno.readTextFile(headCfg)];

    await assertFails(
      loadAdapter(dir, { hidden: 32, layers: 2 }),
      cfg,
      /adapter "fac" was trained on a roberta encoder with hidden_size 16 and 2 layers; this encoder has hidden_size 32 and 2 layers/,
    );
    await assertFails(loadAdapter(dir, { hidden: 16, layers: 4 }), cfg, /4 layers/);

    const cases: [string, (j: Record<string, unknown>) => void, RegExp][] = [
      [cfg, (j) => (j.format = "kadapter-adapter/2"), /format must be "kadapter-adapter\/1"/],
      [cfg, (j) => delete j.adapter_size, /missing adapter_size/],
      [cfg, (j) => (j.adapter_list = [0, 3]), /adapter_list entries \[3\] are not hidden states/],
      [cfg, (j) => (j.combine = "mean"), /combine must be "sum" or "concat", not "mean"/],
      [cfg, (j) => (j.base_model = { model_type: "roberta" }), /missing base_model\.hidden_size/],
      [cfg, (j) => (j.project_hidden_size = 32), /project_hidden_size 32 differs/],
      [headCfg, (j) => (j.labels = ["P17"]), /labels holds 1 names for num_labels 3/],
      [headCfg, (j) => (j.format = null), /format must be "kadapter-head\/1", not null/],
      [headCfg, (j) => (j.loss = "mse"), /loss must be "ce", "bce" or null/],
    ];
    for (const [file, edit, re] of cases) {
      await editJson(file, edit);
      await assertFails(readAdapterFolder(dir), file, re);
      await Deno.writeTextFile(cfg, cfgText);
      await Deno.writeTextFile(headCfg, headText);
    }
    await Deno.writeTextFile(cfg, "{ not json");
    await assertFails(readAdapterFolder(dir), cfg, /not valid JSON/);
    await assertFails(loadAdapter(dir), cfg, /not valid JSON/);
    await Deno.remove(cfg);
    await assertFails(readAdapterFolder(dir), cfg, /missing \(not an adapter folder\?\)/);
    // A meta the reader would refuse is not written.
    await assertFails(
      saveAdapterFolder(join(dir, "x"), saved, { ...META, base: { ...META.base, hidden_size: 8 } }),
      join(dir, "x", ADAPTER_CONFIG),
      /project_hidden_size 16 differs from base_model\.hidden_size 8/,
    );
    for (const m of [saved, head]) m.dispose();
  });
});

test("adapter folder: a cut save is recovered, leftover temporaries cleaned", async () => {
  await withTemp(async (dir) => {
    const saved = new AdapterModel(tiny(), 4);
    await saveAdapterFolder(dir, saved, META);
    const root = join(dir, ".."), aside = join(root, ".adapter.tmp-0badf00d-old");
    // Cut between moving the old folder aside and renaming the new one in.
    await Deno.rename(dir, aside);
    await Deno.mkdir(join(root, ".adapter.tmp-0badf00d"));
    assert.deepEqual((await readAdapterFolder(dir)).meta, META);
    await Deno.rename(dir, aside);
    const { adapter } = await loadAdapter(dir);
    await assertSameParams(saved, adapter, "recovered adapter");
    // The next save removes the leftover temporary.
    await saveAdapterFolder(dir, saved, META);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["adapter"]);
    for (const m of [saved, adapter]) m.dispose();
  });
});

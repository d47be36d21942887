// PyTorch .bin checkpoints: fixtures written by torch.save (tools/reference/torch_bin_fixtures.py)
// read back exactly (zip and legacy layouts, every dtype, views and shared storages, a
// big-endian writer's byteorder), forbidden globals refused before anything runs, every
// truncation and a fuzz of byte mutations refused with a UserError (never a stack trace), and a
// model folder holding only pytorch_model.bin computing what its safetensors twin computes, and a
// released fac adapter folder loading as an adapter and converting to kadapter's folder.
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { UserError } from "../../src/errors.ts";
import { ModelFolderError, readConfig } from "../../src/formats/hf_config.ts";
import { openWeights } from "../../src/formats/hf_folder.ts";
import { openTorchBin, type TorchBinFile } from "../../src/formats/torch_bin.ts";
import {
  loadAdapter,
  loadHeadWeights,
  readAdapterFolder,
} from "../../src/models/adapter_folder.ts";
import { FacHead, LinHead } from "../../src/models/kadapter_heads.ts";
import { loadReleasedHead } from "../../src/models/released_head.ts";
import { TREX_RELATIONS } from "../../src/models/trex_relations.ts";
import type { AdapterModel } from "../../src/models/kadapter.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { Rng } from "../../src/nn/init.ts";
import { kadapter } from "../kadapter_cli.ts";
import { read, test } from "../setup.ts";

const DIR = new URL("../fixtures/torch_bin", import.meta.url).pathname;
type Expected = Record<string, { dtype: string; shape: number[]; values: number[] }>;
const EXPECTED: Record<string, Expected> = JSON.parse(
  await Deno.readTextFile(join(DIR, "expected.json")),
);

/** Every tensor's values as numbers, read the way its dtype is meant to be read. */
async function values(f: TorchBinFile, name: string): Promise<number[]> {
  const { dtype } = f.info(name);
  if (dtype === "F64") return [...new Float64Array((await f.readBytes(name)).buffer)];
  if (dtype === "I64") return [...new BigInt64Array((await f.readBytes(name)).buffer)].map(Number);
  if (dtype === "I32") return [...await f.readI32(name)];
  return [...await f.readF32(name)];
}

async function readAll(f: TorchBinFile): Promise<void> {
  for (const name of f.tensors.keys()) await values(f, name);
}

for (const file of Object.keys(EXPECTED)) {
  Deno.test(`torch bin: ${file} reads back exactly what torch.save wrote`, async () => {
    const f = await openTorchBin(join(DIR, file));
    try {
      assert.deepEqual([...f.tensors.keys()], Object.keys(EXPECTED[file]));
      for (const [name, want] of Object.entries(EXPECTED[file])) {
        const t = f.info(name);
        assert.equal(t.dtype, want.dtype, name);
        assert.deepEqual(t.shape, want.shape, name);
        assert.deepEqual(await values(f, name), want.values, name);
      }
    } finally {
      f.close();
    }
  });
}

Deno.test("torch bin: views share one storage; integers that do not fit i32 are refused", async () => {
  const f = await openTorchBin(join(DIR, "views.bin"));
  try {
    assert.equal(new Set([...f.tensors.values()].map((t) => t.storage)).size, 1);
    assert.deepEqual(f.info("t").stride, [1, 6]);
    assert.equal(f.info("s").offset, 7);
  } finally {
    f.close();
  }
  const d = await openTorchBin(join(DIR, "dtypes.bin"));
  try {
    await assert.rejects(d.readI32("i64"), /"i64": value 1099511627776 at 2 does not fit i32/);
    await assert.rejects(d.readF32("i64"), /is I64; only F32, F16, BF16 read as floats/);
    await assert.rejects(d.readF32("nope"), /no tensor "nope"/);
  } finally {
    d.close();
  }
});

Deno.test("torch bin: a file that calls os.system is refused, naming the global", async () => {
  for (const file of ["forbidden.bin", "forbidden_raw.bin", "forbidden_p4.bin"]) {
    const e = await openTorchBin(join(DIR, file)).then(() => null, (e) => e);
    assert.ok(e instanceof UserError, `${file}: ${e}`);
    assert.match(
      e.message,
      /refusing to load: the file calls posix\.system; kadapter never runs code from a file/,
    );
  }
  // As a model folder's weights: refused the same way, with the safe conversion recipe.
  const dir = await Deno.makeTempDir({ prefix: "kadapter_tb_" });
  try {
    await Deno.copyFile(join(DIR, "forbidden.bin"), join(dir, "pytorch_model.bin"));
    const e = await openWeights(dir).then(() => null, (e) => e);
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, /calls posix\.system.*weights_only=True/s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("torch bin: not a checkpoint, missing, tar", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_tb_" });
  try {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /ends early|neither a zip nor a pickle/],
      [new TextEncoder().encode("hello world"), /neither a zip nor a pickle/],
      [Uint8Array.of(0x80, 2, 0x4b, 1, 0x2e), /no magic number/],
      [Uint8Array.of(0x80, 2, 0xff), /unknown or unsupported pickle opcode 0xff/],
      [Uint8Array.of(0x80, 2, 0x81), /opcode NEWOBJ builds objects/],
    ];
    const tar = new Uint8Array(1024);
    tar.set(new TextEncoder().encode("ustar"), 257);
    cases.push([tar, /tar format/]);
    for (const [bytes, re] of cases) {
      await Deno.writeFile(join(dir, "x.bin"), bytes);
      await assert.rejects(openTorchBin(join(dir, "x.bin")), UserError);
      await assert.rejects(openTorchBin(join(dir, "x.bin")), re);
    }
    await assert.rejects(openTorchBin(join(dir, "none.bin")), /cannot open/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Opens and reads a damaged file: success or a UserError, nothing else. */
async function tryRead(path: string, what: string): Promise<boolean> {
  try {
    const f = await openTorchBin(path);
    try {
      await readAll(f);
    } finally {
      f.close();
    }
    return true;
  } catch (e) {
    if (!(e instanceof UserError)) throw new Error(`${what}: not a UserError: ${e}`, { cause: e });
    return false;
  }
}

Deno.test("torch bin: truncated and corrupted files give clean errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_tb_" });
  const rng = new Rng(5);
  try {
    const path = join(dir, "x.bin");
    for (
      const file of ["views.bin", "legacy.bin", "protocol4.bin", "state_dict.bin", "big_endian.bin"]
    ) {
      const whole = await Deno.readFile(join(DIR, file));
      for (let n = 0; n < whole.length; n++) {
        await Deno.writeFile(path, whole.subarray(0, n));
        // The zip directory sits at the end: every prefix is refused. A legacy file's last
        // storage is its end, so every prefix is refused there too.
        assert.equal(await tryRead(path, `${file} cut at ${n}`), false, `${file} cut at ${n}`);
      }
      for (let i = 0; i < 300; i++) {
        const bad = whole.slice();
        for (let k = 0; k < 3; k++) bad[rng.int(bad.length)] = rng.int(256);
        await Deno.writeFile(path, bad);
        await tryRead(path, `${file} mutation ${i}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("torch bin: a folder with only pytorch_model.bin, or its shards, computes what model.safetensors does", async () => {
  const bin = join(DIR, "tiny_roberta", "bin"), st = join(DIR, "tiny_roberta", "safetensors");
  const sharded = join(DIR, "tiny_roberta", "bin_sharded");
  const w = await openWeights(bin), s = await openWeights(sharded);
  try {
    // The tied decoder and position_ids are stored as transformers' .bin files store them.
    assert.ok(w.tensors.has("lm_head.decoder.weight"));
    assert.ok(w.tensors.has("roberta.embeddings.position_ids"));
    assert.deepEqual([...s.tensors.keys()].sort(), [...w.tensors.keys()].sort());
    const files = new Set([...s.tensors.values()].map((t) => basename(t.file.path)));
    assert.deepEqual([...files].sort(), [1, 2].map((i) => `pytorch_model-0000${i}-of-00002.bin`));
  } finally {
    w.close();
    s.close();
  }
  const input = {
    inputIds: [0, 5, 9, 17, 2, 1, 0, 23, 4, 11, 6, 2],
    attentionMask: [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1],
    batch: 2,
    seqLen: 6,
  };
  const results: Float64Array[][] = [];
  for (const dir of [bin, st, sharded]) {
    const model = await FrozenRoberta.fromFolder(dir, { lmHead: true });
    try {
      const states = model.hiddenStates(input, { keep: "all" });
      const out = [];
      for (const s of states) (out.push(await read(s)), s.dispose());
      results.push(out);
    } finally {
      model.dispose();
    }
  }
  assert.equal(results[0].length, 2);
  assert.deepEqual(results[0], results[1]);
  assert.deepEqual(results[2], results[1]);
});

test("torch bin: a shard index naming a missing or corrupt shard is refused, naming both", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_bin_shards_" });
  try {
    const from = join(DIR, "tiny_roberta", "bin_sharded");
    for await (const e of Deno.readDir(from)) {
      await Deno.copyFile(join(from, e.name), join(dir, e.name));
    }
    await Deno.remove(join(dir, "pytorch_model-00002-of-00002.bin"));
    await assert.rejects(() => openWeights(dir), (e: Error) => {
      assert.ok(e instanceof ModelFolderError, String(e));
      assert.match(e.message, /pytorch_model\.bin\.index\.json/);
      assert.match(e.message, /shard pytorch_model-00002-of-00002\.bin is missing/);
      return true;
    });
    await Deno.writeFile(join(dir, "pytorch_model-00002-of-00002.bin"), new Uint8Array(40));
    await assert.rejects(() => openWeights(dir), (e: Error) => {
      assert.ok(e instanceof ModelFolderError, String(e));
      assert.match(e.message, /pytorch_model-00002-of-00002\.bin/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("torch bin: a released fac adapter folder loads as an adapter and converts", async () => {
  const dir = join(DIR, "released_fac");
  const check = async (adapter: AdapterModel) => {
    const f = await openTorchBin(join(dir, "pytorch_model.bin"));
    try {
      const params = adapter.namedParameters();
      assert.equal(params.length, 2 * 20);
      for (const [name, t] of params) {
        assert.deepEqual([...await read(t)], [...await f.readF32(name)], name);
      }
    } finally {
      f.close();
    }
  };
  const r = await loadAdapter(dir, { hidden: 8, layers: 3 });
  const out = await Deno.makeTempDir({ prefix: "kadapter_tb_" });
  try {
    assert.deepEqual(r.meta, {
      name: "fac",
      task: "fac",
      tokenization: "original",
      base: { model_type: "roberta", hidden_size: 8, num_hidden_layers: 3, vocab_size: 24 },
    });
    const c = r.config;
    assert.deepEqual([c.adapterList, c.adapterHidden, c.heads, c.intermediate, c.layers], [
      [0, 1],
      12,
      12,
      12,
      1,
    ]);
    await check(r.adapter);
    await assert.rejects(
      loadAdapter(dir, { hidden: 8, layers: 4 }),
      /this encoder has hidden_size 8 and 4 layers/,
    );
    const cli = await kadapter("model", "convert", "--adapter", dir, "--out", join(out, "fac"));
    assert.equal(cli.code, 0, cli.out + cli.err);
    assert.match(cli.out, /fac adapter "fac", 2 adapter layers at hidden states 0,1/);
    const back = await loadAdapter(join(out, "fac"), { hidden: 8, layers: 3 });
    try {
      assert.deepEqual(back.config, r.config);
      assert.deepEqual(back.meta, r.meta);
      await check(back.adapter);
    } finally {
      back.adapter.dispose();
    }
    const again = await kadapter(
      "model",
      "convert",
      "--adapter",
      join(out, "fac"),
      "--out",
      join(out, "x"),
    );
    assert.equal(again.code, 2, again.out + again.err);
    assert.match(again.err, /is not a released checkpoint folder/);
  } finally {
    r.adapter.dispose();
    await Deno.remove(out, { recursive: true });
  }
});

test("torch bin: released fac and lin heads convert with their weights and config", async () => {
  const out = await Deno.makeTempDir({ prefix: "kadapter_tbh_" });
  try {
    for (
      const [name, task, rows] of [
        ["released_lin", "lin", 6],
        ["released_fac_trex", "fac", 410],
        ["released_fac", "fac", 5],
      ] as const
    ) {
      const cli = await kadapter(
        "model",
        "convert",
        "--adapter",
        join(DIR, name),
        "--out",
        join(out, name),
      );
      assert.equal(cli.code, 0, cli.out + cli.err);
      const { head } = await readAdapterFolder(join(out, name));
      assert.ok(head);
      assert.equal(head.task, task);
      assert.equal(head.config.labels, rows);
      // Only out_proj's 410 rows are the released relation list; 5 rows stay unlabelled.
      assert.deepEqual(head.labels, rows === 410 ? [...TREX_RELATIONS] : null);
      if (rows === 5) assert.match(cli.out, /5 relations, unlabelled/);
      assert.equal(head.maxLength, task === "lin" ? rows : null);
      const m = task === "lin" ? new LinHead(head.config, 1) : new FacHead(head.config, 1);
      const f = await openTorchBin(join(DIR, name, "pytorch_model.bin"));
      try {
        await loadHeadWeights(join(out, name), m);
        for (const [n, t] of m.namedParameters()) {
          assert.deepEqual([...await read(t)], [...await f.readF32(n)], n);
        }
      } finally {
        f.close();
        m.dispose();
      }
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

test("torch bin: a released head with a tensor missing or misshapen is refused, naming it", async () => {
  const dir = join(DIR, "released_lin"), c = await readConfig(dir), w = await openWeights(dir);
  try {
    const without = new Map(w.tensors);
    without.delete("dense.weight");
    // dense.weight [h, h] given com_dense.weight's [h, 2h].
    const misshapen = new Map(w.tensors);
    misshapen.set("dense.weight", w.tensors.get("com_dense.weight")!);
    for (
      const [tensors, pattern] of [
        [without, /missing dense\.weight/],
        [
          misshapen,
          /: dense\.weight in pytorch_model\.bin has shape \[8,16\], the model expects \[8,8\] for dense\.weight/,
        ],
      ] as const
    ) {
      await assert.rejects(
        () => loadReleasedHead(dir, { ...w, tensors }, c, "lin"),
        (e: Error) => {
          assert.ok(e instanceof ModelFolderError, String(e));
          assert.match(e.message, pattern);
          return true;
        },
      );
    }
  } finally {
    w.close();
  }
});

test("torch bin: a released checkpoint without head tensors converts as an adapter only", async () => {
  const out = await Deno.makeTempDir({ prefix: "kadapter_tbo_" });
  try {
    const cli = await kadapter(
      "model",
      "convert",
      "--adapter",
      join(DIR, "released_adapter_only"),
      "--out",
      join(out, "a"),
    );
    assert.equal(cli.code, 0, cli.out + cli.err);
    assert.match(cli.out, /holds no pretraining head tensors; adapter only/);
    const { head, meta } = await readAdapterFolder(join(out, "a"));
    assert.equal(head, null);
    // Without a head the kind cannot be told: neither fac= nor lin= is refused for it.
    assert.equal(meta.task, "unknown");
    assert.equal(meta.name, "adapter");
    await assert.rejects(Deno.stat(join(out, "a", "head_config.json")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

// Hugging Face model folders: config checks, name resolution (prefix, tied decoder,
// position_ids), sharding both ways, every kind of mismatch reported at once, pytorch_model.bin
// loaded (other pickles refused), and streaming into GPU tensors.
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpu, initGpu } from "../../src/gpu/device.ts";
import { cast, Tensor } from "../../src/tensor/mod.ts";
import { ModelFolderError, readConfig } from "../../src/formats/hf_config.ts";
import {
  type Expected,
  INDEX_FILE,
  loadIntoTensors,
  loadWeights,
  openModelFolder,
  openWeights,
  resolveWeights,
  writeModelFolder,
} from "../../src/formats/hf_folder.ts";
import { type SafetensorsEntry, writeSafetensors } from "../../src/formats/safetensors.ts";

const CONFIG = {
  architectures: ["RobertaForMaskedLM"],
  model_type: "roberta",
  vocab_size: 10,
  hidden_size: 4,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 8,
  max_position_embeddings: 6,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  pad_token_id: 1,
  hidden_act: "gelu",
};

/** Every tensor of a RoBERTa masked-LM checkpoint, under transformers' names (no prefix). */
function robertaNames(c = CONFIG): [string, number[]][] {
  const h = c.hidden_size, f = c.intermediate_size;
  const out: [string, number[]][] = [
    ["embeddings.word_embeddings.weight", [c.vocab_size, h]],
    ["embeddings.position_embeddings.weight", [c.max_position_embeddings, h]],
    ["embeddings.token_type_embeddings.weight", [c.type_vocab_size, h]],
    ["embeddings.LayerNorm.weight", [h]],
    ["embeddings.LayerNorm.bias", [h]],
  ];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const m of ["attention.self.query", "attention.self.key", "attention.self.value"]) {
      out.push([`${p}${m}.weight`, [h, h]], [`${p}${m}.bias`, [h]]);
    }
    out.push([`${p}attention.output.dense.weight`, [h, h]], [`${p}attention.output.dense.bias`, [
      h,
    ]]);
    for (const ln of ["attention.output.LayerNorm", "output.LayerNorm"]) {
      out.push([`${p}${ln}.weight`, [h]], [`${p}${ln}.bias`, [h]]);
    }
    out.push([`${p}intermediate.dense.weight`, [f, h]], [`${p}intermediate.dense.bias`, [f]]);
    out.push([`${p}output.dense.weight`, [h, f]], [`${p}output.dense.bias`, [h]]);
  }
  return out;
}
const LM_HEAD: [string, number[]][] = [
  ["lm_head.dense.weight", [4, 4]],
  ["lm_head.dense.bias", [4]],
  ["lm_head.layer_norm.weight", [4]],
  ["lm_head.layer_norm.bias", [4]],
  ["lm_head.bias", [10]],
];

/** Values that tell tensor `k` apart, exact in f16 (and in bf16 for k < 8). */
function values(shape: readonly number[], k: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => k + (i % 16) / 16);
}

const prefixed = (names: [string, number[]][]) =>
  names.map(([n, s]): [string, number[]] => ["roberta." + n, s]);

const entries = (names: [string, number[]][]): SafetensorsEntry[] =>
  names.map(([name, shape], k) => ({ name, dtype: "F32", shape, data: values(shape, k) }));

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_hf_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function folderError(p: Promise<unknown>): Promise<ModelFolderError> {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof ModelFolderError, `expected a ModelFolderError, got ${e}`);
  return e;
}

Deno.test("hf folder: roberta.-prefixed checkpoint, tied decoder absent, position_ids", async () => {
  await withDir(async (dir) => {
    // As roberta-base's file: prefixed encoder, lm_head without decoder, int64 position_ids,
    // and a pooler the masked-LM model does not use; some tensors in F16 and BF16.
    const file = entries([...prefixed(robertaNames()), ...LM_HEAD]);
    file[3] = { ...file[3], dtype: "F16", data: new Float16Array(file[3].data as Float32Array) };
    const bf = new Uint32Array((file[4].data as Float32Array).slice().buffer);
    file[4] = { ...file[4], dtype: "BF16", data: Uint16Array.from(bf, (b) => b >>> 16) };
    file.push(
      {
        name: "roberta.embeddings.position_ids",
        dtype: "I64",
        shape: [1, 6],
        data: new BigInt64Array(6),
      },
      {
        name: "roberta.pooler.dense.weight",
        dtype: "F32",
        shape: [4, 4],
        data: new Float32Array(16),
      },
    );
    await writeModelFolder(dir, CONFIG, file);
    const { config, weights } = await openModelFolder(dir);
    try {
      assert.equal(config.hidden_size, 4);
      assert.equal(config.hidden_dropout_prob, 0.1); // transformers' default, absent from the file
      assert.deepEqual(config.architectures, ["RobertaForMaskedLM"]);
      // A model naming its encoder without the prefix, with a decoder to tie.
      const expected: Expected = [
        ...robertaNames(),
        ...LM_HEAD.slice(0, 4),
        ["lm_head.decoder.weight", [10, 4]],
        ["lm_head.decoder.bias", [10]],
      ];
      const got = new Map<string, Float32Array>();
      const plan = await loadWeights(weights, expected, (n, d) => void got.set(n, d));
      assert.deepEqual(plan.unused, ["roberta.pooler.dense.weight"]);
      const src = new Map(plan.sources.map((s) => [s.name, s.source]));
      assert.equal(src.get("lm_head.decoder.weight"), "roberta.embeddings.word_embeddings.weight");
      assert.equal(src.get("lm_head.decoder.bias"), "lm_head.bias");
      assert.equal(src.get("embeddings.LayerNorm.weight"), "roberta.embeddings.LayerNorm.weight");
      assert.deepEqual([...got.keys()], expected.map(([n]) => n));
      const index = new Map(file.map((e, k) => [e.name, k]));
      for (const s of plan.sources) {
        assert.deepEqual(got.get(s.name), values(s.shape, index.get(s.source)!), s.name);
      }
      // Prefixed expected names resolve exactly; a model without the LM head leaves it unused.
      const encoder = resolveWeights(weights, prefixed(robertaNames()));
      assert.equal(encoder.sources[0].source, "roberta.embeddings.word_embeddings.weight");
      assert.deepEqual(
        encoder.unused,
        [...LM_HEAD.map(([n]) => n), "roberta.pooler.dense.weight"].sort(),
      );
    } finally {
      weights.close();
    }
  });
});

Deno.test("hf folder: sharded writing and loading, and back to one file", async () => {
  await withDir(async (dir) => {
    const names = [...robertaNames(), ...LM_HEAD];
    const total = names.reduce((n, [, s]) => n + 4 * s.reduce((a, b) => a * b, 1), 0);
    await writeModelFolder(dir, CONFIG, entries(names), { maxShardBytes: total - 1 });
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(files, [
      "config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      INDEX_FILE,
    ]);
    const index = JSON.parse(await Deno.readTextFile(join(dir, INDEX_FILE)));
    assert.equal(index.metadata.total_size, total);
    assert.deepEqual(Object.keys(index.weight_map), names.map(([n]) => n).sort());
    assert.equal(index.weight_map["embeddings.word_embeddings.weight"], files[1]);
    assert.equal(index.weight_map["lm_head.bias"], files[2]);
    const weights = await openWeights(dir);
    try {
      const got: string[] = [];
      const plan = await loadWeights(weights, names, (n, d) => {
        const k = names.findIndex(([m]) => m === n);
        assert.deepEqual(d, values(names[k][1], k), n);
        got.push(n);
      });
      assert.equal(got.length, names.length);
      assert.deepEqual(plan.unused, []);
    } finally {
      weights.close();
    }
    // Rewritten unsharded, the index goes (model.safetensors would otherwise shadow it).
    await writeModelFolder(dir, CONFIG, entries(names));
    assert.ok(!(await Deno.stat(join(dir, INDEX_FILE)).catch(() => null)));
    (await openWeights(dir)).close();
  });
});

Deno.test("hf folder: an index that disagrees with its shards lists every problem", async () => {
  await withDir(async (dir) => {
    const a = (name: string): SafetensorsEntry => ({
      name,
      dtype: "F32",
      shape: [1],
      data: new Float32Array(1),
    });
    await writeSafetensors(join(dir, "s1.safetensors"), [a("x"), a("extra")]);
    await writeSafetensors(join(dir, "s2.safetensors"), [a("y"), a("z")]);
    const index = {
      weight_map: {
        x: "s1.safetensors",
        y: "s1.safetensors",
        z: "s2.safetensors",
        w: "gone.safetensors",
      },
    };
    await Deno.writeTextFile(join(dir, INDEX_FILE), JSON.stringify(index));
    const e = await folderError(openWeights(dir));
    assert.deepEqual(e.problems, [
      "shard s1.safetensors lacks y, which the index places there",
      "shard s1.safetensors holds extra, which the index places in no shard",
      "shard s2.safetensors holds y, which the index places in s1.safetensors",
      "shard gone.safetensors is missing (the index places w there)",
    ]);
    assert.match(e.message, new RegExp(`^${join(dir, INDEX_FILE)}: 4 problems:`));
    await Deno.writeTextFile(
      join(dir, INDEX_FILE),
      JSON.stringify({ weight_map: { x: "../s1.safetensors" } }),
    );
    assert.match(
      (await folderError(openWeights(dir))).message,
      /x: shard "..\/s1.safetensors" is not a file name/,
    );
    await Deno.writeTextFile(
      join(dir, INDEX_FILE),
      '{"weight_map": {"x": "s1.safetensors", "x": "s2.safetensors"}}',
    );
    assert.match(
      (await folderError(openWeights(dir))).message,
      /not a valid index: duplicate key "x"/,
    );
    // A corrupt shard is named with the safetensors reason.
    await Deno.writeFile(join(dir, "s1.safetensors"), new Uint8Array(5));
    await Deno.writeTextFile(
      join(dir, INDEX_FILE),
      JSON.stringify({ weight_map: { x: "s1.safetensors" } }),
    );
    assert.match(
      (await folderError(openWeights(dir))).message,
      /s1.safetensors: 5 bytes is too short/,
    );
  });
});

Deno.test("hf folder: wrong shape, missing tensor and wrong dtype are reported together", async () => {
  await withDir(async (dir) => {
    const names = robertaNames();
    const file = entries(names.filter(([n]) => n !== "encoder.layer.0.output.dense.bias"));
    file[0] = { ...file[0], shape: [10, 5], data: new Float32Array(50) };
    file[1] = { ...file[1], dtype: "I32", data: new Int32Array(24) };
    await writeModelFolder(dir, CONFIG, file);
    const weights = await openWeights(dir);
    try {
      const e = await folderError(Promise.resolve().then(() => resolveWeights(weights, names)));
      assert.deepEqual(e.problems, [
        "embeddings.word_embeddings.weight in model.safetensors has shape [10,5], the model " +
        "expects [10,4] for embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight in model.safetensors is I32; parameters load " +
        "from F32, F16 or BF16",
        "missing encoder.layer.0.output.dense.bias (looked for encoder.layer.0.output.dense.bias, " +
        "roberta.encoder.layer.0.output.dense.bias)",
      ]);
      assert.ok(e.message.startsWith(`${dir}: 3 problems:`));
      // Nothing streams when anything is wrong.
      let calls = 0;
      await folderError(loadWeights(weights, names, () => void calls++));
      assert.equal(calls, 0);
    } finally {
      weights.close();
    }
  });
});

Deno.test("hf folder: pytorch_model.bin loads; other pickles and unreadable ones are refused", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(CONFIG));
    await Deno.writeFile(join(dir, "training_args.bin"), Uint8Array.of(0x80, 2));
    assert.match(
      (await folderError(openModelFolder(dir))).message,
      /no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json \(of PyTorch files kadapter reads only pytorch_model.bin and the shards its index names, not training_args.bin\) \(the folder holds: config.json, training_args.bin\)/,
    );
    // A pytorch_model.bin the restricted unpickler cannot read is refused as such.
    await Deno.writeFile(join(dir, "pytorch_model.bin"), Uint8Array.of(0x80, 2));
    const e = await folderError(openModelFolder(dir));
    assert.match(e.message, /pytorch_model.bin: the pickle ends early/);
    assert.match(e.message, /If the file is one you trust, convert it once to model.safetensors/);
    assert.match(e.message, /weights_only=True/);
    // A real one (written by torch.save) loads; tests/formats/torch_bin_test.ts runs it.
    const tiny = new URL("../fixtures/torch_bin/tiny_roberta/bin", import.meta.url).pathname;
    const weights = await openWeights(tiny);
    try {
      assert.ok(weights.tensors.has("roberta.embeddings.word_embeddings.weight"));
    } finally {
      weights.close();
    }
    await Deno.remove(join(dir, "pytorch_model.bin"));
    await Deno.remove(join(dir, "training_args.bin"));
    assert.match(
      (await folderError(openWeights(dir))).message,
      /no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json \(the folder holds: config.json\)/,
    );
    assert.match((await folderError(openWeights(join(dir, "nope")))).message, /cannot read/);
  });
});

Deno.test("hf folder: malformed configs are refused with every problem listed", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.json");
    const bad = async (text: string) => {
      await Deno.writeTextFile(path, text);
      return await folderError(readConfig(dir));
    };
    const { vocab_size: _, ...noVocab } = CONFIG;
    const e = await bad(
      JSON.stringify({
        ...noVocab,
        hidden_act: "gelu_new",
        hidden_size: 4.5,
        layer_norm_eps: "1e-5",
      }),
    );
    assert.deepEqual(e.problems, [
      "missing vocab_size",
      "hidden_size must be a positive integer, not 4.5",
      'layer_norm_eps must be a small positive number, not "1e-5"',
      'hidden_act "gelu_new" is not supported: RoBERTa uses exact "gelu"',
    ]);
    assert.deepEqual((await bad(JSON.stringify({ ...CONFIG, num_attention_heads: 3 }))).problems, [
      "hidden_size 4 is not a multiple of num_attention_heads 3",
    ]);
    assert.deepEqual(
      (await bad(JSON.stringify({ ...CONFIG, pad_token_id: 5, max_position_embeddings: 6 })))
        .problems,
      [
        "max_position_embeddings 6 leaves no positions after pad_token_id 5 (RoBERTa numbers " +
        "positions from pad_token_id + 1)",
      ],
    );
    assert.match(
      (await bad(JSON.stringify({ ...CONFIG, model_type: "bert" }))).message,
      /model_type "bert"/,
    );
    assert.match((await bad("{")).message, /config.json: not valid JSON/);
    assert.match(
      (await bad('{"vocab_size": 1, "vocab_size": 2}')).message,
      /duplicate key "vocab_size"/,
    );
    assert.match((await bad("[]")).message, /config.json: must be a JSON object/);
    await Deno.remove(path);
    assert.match((await folderError(readConfig(dir))).message, /config.json: not found/);
    // The writer checks the config before it writes anything.
    await folderError(writeModelFolder(join(dir, "out"), { ...CONFIG, hidden_act: "relu" }, []));
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test({
  name: "hf folder: streams into f32 and f16 GPU tensors",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await initGpu();
    await withDir(async (dir) => {
      const names = robertaNames();
      await writeModelFolder(dir, CONFIG, entries(prefixed(names)));
      const f16 = gpu().hasF16;
      const params = names.map(([n, s], k) =>
        [n, Tensor.empty(s, f16 && k % 2 ? "f16" : "f32")] as [string, Tensor]
      );
      const weights = await openWeights(dir);
      try {
        const plan = await loadIntoTensors(weights, params);
        assert.deepEqual(plan.unused, []);
        for (const [k, [n, t]] of params.entries()) {
          const wide = t.dtype === "f16" ? cast(t, "f32") : t;
          assert.deepEqual(await wide.data(), values(names[k][1], k), n);
          if (wide !== t) wide.dispose();
        }
        const ids = Tensor.from([1, 2], [2], "i32");
        await assert.rejects(loadIntoTensors(weights, [["ids", ids]]), /ids: cannot load/);
        ids.dispose();
      } finally {
        weights.close();
        for (const [, t] of params) t.dispose();
      }
    });
  },
});

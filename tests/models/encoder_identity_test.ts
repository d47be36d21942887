// The encoder identity adapter folders record (encoder_identity.ts): the vocabulary hash is
// canonical and changes with any token or id; infusion and saveAdapterFolder write it and it
// reads back; the one check refuses another vocabulary and a fac= name holding a lin adapter
// (--force: a warning instead), accepts folders written before the hash, and only warns on
// another tokenization; loadAdapters and finetune run it, sizes that cannot fit stay refused
// even with --force, and a fine-tuned model's adapter folders record its encoder.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { RobertaTokenizer } from "../../src/formats/tokenizer.ts";
import { adapterConfig } from "../../src/models/adapter_config.ts";
import {
  ADAPTER_CONFIG,
  AdapterFolderError,
  readAdapterFolder,
  saveAdapterFolder,
} from "../../src/models/adapter_folder.ts";
import {
  AdapterMismatchError,
  type BaseModelInfo,
  baseModelInfo,
  checkAdapterFits,
  vocabSha256,
} from "../../src/models/encoder_identity.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { loadAdapters } from "../../src/models/named_adapters.ts";
import { FrozenRoberta } from "../../src/models/roberta_frozen.ts";
import { finetune } from "../../src/runs/finetune.ts";
import { infuse } from "../../src/runs/infuse.ts";
import { liveTensors } from "../../src/tensor/mod.ts";
import { DATA, finetuneFixture, runOptions } from "../tasks/finetune_fixture.ts";
import { test } from "../setup.ts";

// The encoder (tiny, 2000 merges) and fac/lin folders saved before the hash was recorded.
const { root, modelDir, facDir, linDir } = await finetuneFixture("kadapter_identity_");
const tok = await RobertaTokenizer.fromFolder(modelDir);
const tokenizerJson = () =>
  Deno.readTextFile(join(modelDir, "tokenizer.json")).then((t) => JSON.parse(t));
const tokenizerConfig = JSON.parse(
  await Deno.readTextFile(join(modelDir, "tokenizer_config.json")),
);
const DIMS = { hidden: 64, layers: 2, vocab: tok.vocabSize };
const HASH = vocabSha256(tok.vocabulary());
const SMALL = { adapterHidden: 16, heads: 2, intermediate: 32, layers: 1 };

/** What a check says, and its error (null: none). */
function check(
  name: string,
  meta: Parameters<typeof checkAdapterFits>[2],
  fit: { base?: BaseModelInfo; force?: boolean; tokenization?: "original" | "hf" } = {},
) {
  const said: string[] = [];
  let error: unknown = null;
  try {
    checkAdapterFits(name, "/adapters/x", meta, {
      base: fit.base ?? baseModelInfo(DIMS, tok),
      force: fit.force,
      tokenization: fit.tokenization,
      say: (l) => said.push(l),
    });
  } catch (e) {
    error = e;
  }
  return { said, error };
}

const base = (over: Partial<BaseModelInfo> = {}): BaseModelInfo => ({
  ...baseModelInfo(DIMS, tok),
  ...over,
});

function assertRefused(error: unknown, ...patterns: (RegExp | string)[]) {
  assert.ok(error instanceof AdapterMismatchError, `expected an AdapterMismatchError: ${error}`);
  for (const p of patterns) {
    if (typeof p === "string") assert.ok(error.message.includes(p), `${p}: ${error.message}`);
    else assert.match(error.message, p);
  }
}

Deno.test("vocabulary hash: canonical, stable, and changed by one token or one id", async () => {
  // The canonical form: `${id}\t${JSON token}\n` by id, whatever order it is given in.
  const want = createHash("sha256").update('0\t"<s>"\n1\t"a\\tb"\n').digest("hex");
  assert.equal(vocabSha256([[1, "a\tb"], [0, "<s>"]]), want);
  assert.match(HASH, /^[0-9a-f]{64}$/);
  assert.equal(vocabSha256((await RobertaTokenizer.fromFolder(modelDir)).vocabulary()), HASH);
  const entries = tok.vocabulary();
  assert.equal(entries.length, tok.vocabSize);
  assert.equal(vocabSha256([...entries].reverse()), HASH);
  const oneToken = entries.map(([id, t]): [number, string] => [id, id === 300 ? t + "x" : t]);
  assert.notEqual(vocabSha256(oneToken), HASH);
  const oneId = entries.map(([id, t]): [number, string] => [id === 300 ? 9999 : id, t]);
  assert.notEqual(vocabSha256(oneId), HASH);

  // Two tokens' ids swapped in tokenizer.json: same size, another vocabulary.
  const json = await tokenizerJson(), vocab = json.model.vocab as Record<string, number>;
  const [a, b] = Object.keys(vocab).filter((k) => vocab[k] === 300 || vocab[k] === 301);
  [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
  const swapped = new RobertaTokenizer(json, tokenizerConfig);
  assert.equal(swapped.vocabSize, tok.vocabSize);
  assert.notEqual(baseModelInfo(DIMS, swapped).vocab_sha256, HASH);
  assert.deepEqual(baseModelInfo(DIMS, tok), {
    model_type: "roberta",
    hidden_size: 64,
    num_hidden_layers: 2,
    vocab_size: tok.vocabSize,
    vocab_sha256: HASH,
  });
  assert.equal(baseModelInfo(DIMS).vocab_sha256, undefined);
});

test("adapter folders record vocab_sha256 and read it back; a malformed one is refused", async () => {
  const dir = join(root, "saved");
  const a = new AdapterModel(adapterConfig(64, 2, SMALL), 1);
  const meta = { name: "fac", task: "fac", base: baseModelInfo(DIMS, tok) };
  try {
    await saveAdapterFolder(dir, a, meta);
    const raw = JSON.parse(await Deno.readTextFile(join(dir, ADAPTER_CONFIG)));
    assert.equal(raw.base_model.vocab_sha256, HASH);
    assert.deepEqual((await readAdapterFolder(dir)).meta.base, meta.base);
    for (const bad of [HASH.toUpperCase(), HASH.slice(1), 7]) {
      raw.base_model.vocab_sha256 = bad;
      await Deno.writeTextFile(join(dir, ADAPTER_CONFIG), JSON.stringify(raw));
      await assert.rejects(
        readAdapterFolder(dir),
        (e) =>
          e instanceof AdapterFolderError &&
          /base_model\.vocab_sha256 must be 64 lowercase hex digits/.test(e.message),
      );
    }
    await assert.rejects(
      saveAdapterFolder(dir, a, { ...meta, base: { ...meta.base, vocab_sha256: "abc" } }),
      /vocab_sha256 must be 64 lowercase hex digits, not "abc"/,
    );
  } finally {
    a.dispose();
  }
  // Folders written before the field read without it.
  assert.equal((await readAdapterFolder(facDir)).meta.base.vocab_sha256, undefined);
});

Deno.test("the check refuses another vocabulary; --force warns instead", () => {
  const other = "0".repeat(64);
  const bigger = check("fac", { task: "fac", base: base({ vocab_size: 50265 }) });
  assertRefused(
    bigger.error,
    "adapter fac (--adapters fac=/adapters/x)",
    `whose vocabulary has 50265 ids (vocabulary sha256 ${HASH})`,
    `this encoder's has ${tok.vocabSize} ids (vocabulary sha256 ${HASH})`,
    /; pass --force to use it anyway$/,
  );
  const sameSize = check("fac", { task: "fac", base: base({ vocab_sha256: other }) });
  assertRefused(sameSize.error, `sha256 ${other}`, `sha256 ${HASH}`, "pass --force");
  const forced = check("fac", { task: "fac", base: base({ vocab_sha256: other }) }, {
    force: true,
  });
  assert.equal(forced.error, null);
  assert.equal(forced.said.length, 1, forced.said.join("\n"));
  assert.match(forced.said[0], /^warning: adapter fac \(--adapters fac=\/adapters\/x\): /);
  assert.ok(forced.said[0].includes(`sha256 ${other}`), forced.said[0]);
  assert.match(forced.said[0], /using it anyway \(--force\)$/);
  // An old folder records no hash: only the size is compared, silently.
  const old = check("fac", { task: "fac", base: base({ vocab_sha256: undefined }) });
  assert.deepEqual(old, { said: [], error: null });
  assertRefused(
    check("fac", { task: "fac", base: base({ vocab_sha256: undefined, vocab_size: 7 }) }).error,
    "has 7 ids;",
  );
  // Nor does a released folder's encoder (config.json, no tokenizer) on either side.
  assert.deepEqual(check("fac", { task: "fac", base: base() }, { base: baseModelInfo(DIMS) }), {
    said: [],
    error: null,
  });
});

Deno.test("the check refuses fac= holding a lin adapter (and lin= a fac one); --force warns", () => {
  const lin = check("fac", { task: "lin", base: base() });
  assertRefused(
    lin.error,
    "adapter fac (--adapters fac=/adapters/x): the folder holds a lin adapter " +
      '(task "lin"), not fac; pass --force to use it anyway',
  );
  assertRefused(check("lin", { task: "fac", base: base() }).error, "holds a fac adapter");
  const forced = check("fac", { task: "lin", base: base() }, { force: true });
  assert.equal(forced.error, null);
  assert.equal(forced.said.length, 1);
  assert.match(forced.said[0], /^warning: .*holds a lin adapter.*using it anyway \(--force\)$/);
  // Both problems in one message.
  assertRefused(
    check("fac", { task: "lin", base: base({ vocab_size: 9 }) }).error,
    "has 9 ids",
    "holds a lin adapter",
  );
  // Names that are not a kind, and folders of no known kind, are not compared.
  for (const [name, task] of [["knowledge", "lin"], ["fac", "untrained"], ["fac", "fac"]]) {
    assert.deepEqual(check(name, { task, base: base() }), { said: [], error: null }, name);
  }
});

Deno.test("another tokenization only warns (a folder without one was hf)", () => {
  const original = check("fac", { task: "fac", base: base(), tokenization: "original" }, {
    tokenization: "hf",
  });
  assert.equal(original.error, null);
  assert.deepEqual(original.said, [
    "warning: adapter fac (/adapters/x) was trained with --tokenization original; this run " +
    "uses hf, so it reads inputs tokenized unlike its own",
  ]);
  const unrecorded = { task: "fac", base: base() };
  assert.deepEqual(check("fac", unrecorded, { tokenization: "hf" }).said, []);
  assert.match(check("fac", unrecorded, { tokenization: "original" }).said[0], /tokenization hf;/);
  // A run without a tokenization (encode, probe) compares none.
  assert.deepEqual(check("fac", { ...unrecorded, tokenization: "original" }).said, []);
});

test("loadAdapters refuses fac=<lin>, frees what it loaded; --force loads; sizes stay refused", async () => {
  const encoder = await FrozenRoberta.fromFolder(modelDir, { lmHead: false });
  const said: string[] = [];
  const fit = { base: baseModelInfo(encoder.dims, tok), say: (l: string) => said.push(l) };
  const wideDir = join(root, "wide");
  const wide = new AdapterModel(adapterConfig(32, 2, SMALL), 2);
  await saveAdapterFolder(wideDir, wide, {
    name: "wide",
    task: "fac",
    base: baseModelInfo({ ...DIMS, hidden: 32 }, tok),
  });
  wide.dispose();
  try {
    const live = liveTensors();
    const specs = [{ name: "fac", dir: facDir }, { name: "lin", dir: linDir }];
    const ok = await loadAdapters(specs, encoder, fit);
    ok.forEach((a) => a.adapter.dispose());
    await assert.rejects(
      loadAdapters([{ name: "lin", dir: facDir }, { name: "fac", dir: linDir }], encoder, fit),
      (e) => e instanceof AdapterMismatchError && e.message.includes(`lin=${facDir}`),
    );
    assert.equal(liveTensors(), live, "the refused load left tensors behind");
    const forced = await loadAdapters([{ name: "fac", dir: linDir }], encoder, {
      ...fit,
      force: true,
    });
    assert.equal(forced.length, 1);
    forced.forEach((a) => a.adapter.dispose());
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(said[0], /^warning: adapter fac .*holds a lin adapter/);
    await assert.rejects(
      loadAdapters([{ name: "wide", dir: wideDir }], encoder, { ...fit, force: true }),
      (e) => e instanceof AdapterFolderError && /hidden_size 32/.test(e.message),
    );
    assert.equal(liveTensors(), live);
  } finally {
    encoder.dispose();
  }
});

test("infusion records the encoder's vocabulary hash in its adapter folder", async () => {
  const r = await infuse({
    task: "fac",
    model: modelDir,
    train: new URL("../../data/world/trex_train.arrow", import.meta.url).pathname,
    out: join(root, "infused"),
    batch: 8,
    accumulate: 1,
    lr: 1e-3,
    epochs: 1,
    steps: 1,
    warmup: 0,
    weightDecay: 0,
    maxGradNorm: 1,
    maxLength: 32,
    tokenization: "original",
    seed: 1,
    adapter: { adapterHidden: 16, heads: 2, intermediate: 32, layers: 1 },
    headDropout: 0.1,
    loss: "ce",
    evalBatch: 16,
    logEvery: 1,
    limit: 16,
    f16: false,
    resume: false,
    progress: { write: () => {}, tty: false },
    say: () => {},
  });
  const { meta } = await readAdapterFolder(r.adapterDir);
  assert.deepEqual(meta.base, baseModelInfo(DIMS, tok));
});

test("finetune refuses fac=<lin>; with --force it warns, and model/adapters record the encoder", async () => {
  const data = { train: join(DATA, "relation_train.arrow"), dev: join(DATA, "relation_dev.arrow") };
  const short = { steps: 1, evalEvery: 1, limit: 8, devLimit: 4, batch: 4 };
  const adapters = [{ name: "fac", dir: linDir }];
  await assert.rejects(
    finetune(runOptions("relation", modelDir, data, join(root, "ft_refused"), {
      ...short,
      adapters,
    })),
    (e) =>
      e instanceof AdapterMismatchError && e.message.includes("holds a lin adapter") &&
      e.message.includes("pass --force to use it anyway"),
  );
  const said: string[] = [];
  const r = await finetune(runOptions("relation", modelDir, data, join(root, "ft_forced"), {
    ...short,
    adapters,
    force: true,
    say: (l) => said.push(l),
  }));
  assert.equal(said.filter((l) => l.startsWith("warning: adapter fac")).length, 1, said.join("\n"));
  const saved = await readAdapterFolder(join(r.modelDir, "adapters", "fac"));
  assert.deepEqual(saved.meta.base, baseModelInfo(DIMS, tok));
  assert.equal(saved.meta.task, "lin");
  // The ablation uses only the folder's shape: nothing to compare.
  said.length = 0;
  await finetune(runOptions("relation", modelDir, data, join(root, "ft_untrained"), {
    ...short,
    adapters,
    untrainedAdapter: true,
    say: (l) => said.push(l),
  }));
  assert.ok(!said.some((l) => l.startsWith("warning")), said.join("\n"));
});

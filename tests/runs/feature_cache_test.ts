// --cache-features: the store itself (memory and file, f32 exact, f16 rounded to nearest even
// as an independent float64 rounding gives, zero padding, an interrupted fill leaving no
// file), then whole fac and lin runs over more than one epoch with and without the cache:
// their logged losses and dev metrics agree step by step (f32: to 1e-6, bit-equal here; f16:
// to 1e-3, about 1e-5 here), for adapters that mask padding and the released layout (mask
// "all").
import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu } from "../../src/gpu/device.ts";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { infuse, type InfuseOptions } from "../../src/runs/infuse.ts";
import {
  cacheBytes,
  type CacheDtype,
  type CacheLayout,
  FeatureCache,
} from "../../src/train/feature_cache.ts";
import { readTrainState } from "../../src/train/checkpoint.ts";
import { Rng } from "../../src/nn/init.ts";

const DATA = new URL("../../data/", import.meta.url).pathname;

await initGpu();
const root = await Deno.makeTempDir({ prefix: "kadapter_feature_cache_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

/** x rounded to the nearest f16 (ties to even), from the format's definition. */
function f16(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x), e = Math.max(Math.floor(Math.log2(a)), -14);
  const q = 2 ** (e - 10), r = a / q, lo = Math.floor(r);
  const y = (r - lo > 0.5 || (r - lo === 0.5 && lo % 2 !== 0) ? lo + 1 : lo) * q;
  return Math.sign(x) * (y > 65504 ? Infinity : y);
}

function randomBlocks(l: CacheLayout, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from(
    { length: l.lengths.length },
    (_, i) =>
      Float32Array.from({ length: l.states * l.lengths[i] * l.hidden }, () => 3 * rng.normal()),
  );
}

async function build(l: CacheLayout, path: string | null, blocks: Float32Array[]) {
  // Filled out of order, as the length-ordered batches fill it.
  return await FeatureCache.build(l, path, async (put) => {
    for (const i of [...blocks.keys()].reverse()) put(i, blocks[i]);
    await Promise.resolve();
  });
}

for (const dtype of ["f32", "f16"] as CacheDtype[]) {
  for (const where of ["memory", "disk"]) {
    Deno.test(`feature cache (${where}, ${dtype}): a batch is each example's block, padded`, async () => {
      const layout: CacheLayout = { lengths: [3, 1, 5, 2], states: 2, hidden: 4, dtype };
      const blocks = randomBlocks(layout, 7);
      const path = where === "disk" ? join(root, `unit_${dtype}`, "train.bin") : null;
      const cache = await build(layout, path, blocks);
      try {
        assert.equal(cache.bytes, 11 * 2 * 4 * (dtype === "f16" ? 2 : 4));
        assert.equal(cacheBytes(layout), cache.bytes);
        if (path) {
          assert.equal((await Deno.stat(path)).size, cache.bytes);
          const names = [...Deno.readDirSync(join(root, `unit_${dtype}`))].map((e) => e.name);
          assert.deepEqual(names, ["train.bin"], "no temporary file is left");
        }
        const indices = [2, 0, 3, 0], seq = 6, h = 4;
        const states = cache.assemble(indices, seq);
        assert.equal(states.length, 2);
        indices.forEach((i, row) => {
          const len = layout.lengths[i];
          for (let k = 0; k < 2; k++) {
            for (let s = 0; s < seq; s++) {
              for (let j = 0; j < h; j++) {
                const got = states[k][(row * seq + s) * h + j];
                const x = s < len ? blocks[i][(k * len + s) * h + j] : 0;
                const want = dtype === "f16" ? f16(x) : x;
                assert.equal(got, want, `example ${i} state ${k} token ${s} value ${j}`);
              }
            }
          }
        });
        assert.throws(() => cache.assemble([2], 4), /holds 5 tokens, past 4/);
      } finally {
        cache.close();
      }
      if (path) await assert.rejects(Deno.stat(path), Deno.errors.NotFound, "closed: deleted");
    });
  }
}

Deno.test("feature cache: f16 rounds to nearest even and saturates as the format does", async () => {
  const values = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, -1e-8, 2 ** -24, 3 * 2 ** -25];
  const layout: CacheLayout = { lengths: [values.length], states: 1, hidden: 1, dtype: "f16" };
  const cache = await build(layout, null, [Float32Array.from(values)]);
  const got = [...cache.assemble([0], values.length)[0]];
  assert.deepEqual(got, values.map((v) => f16(Math.fround(v))));
  assert.deepEqual(got.slice(0, 4), [1, 1 + 2 ** -9, 65504, Infinity]);
  cache.close();
});

Deno.test("feature cache: a fill that misses an example or fails leaves no file", async () => {
  const layout: CacheLayout = { lengths: [2, 2], states: 1, hidden: 3, dtype: "f16" };
  const dir = join(root, "failed"), path = join(dir, "train.f16");
  await assert.rejects(
    FeatureCache.build(layout, path, async (put) => {
      put(0, new Float32Array(6));
      await Promise.resolve();
    }),
    /example 1 was never filled/,
  );
  await assert.rejects(
    FeatureCache.build(layout, path, async (put) => {
      put(0, new Float32Array(6));
      await Promise.resolve();
      throw new Error("interrupted");
    }),
    /interrupted/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing left in the cache folder");
  await assert.rejects(
    FeatureCache.build(layout, null, async (put) => {
      put(1, new Float32Array(5));
      await Promise.resolve();
    }),
    /example 1 has 5 values, not 6/,
  );
});

// Whole runs: a tiny random encoder, small adapters, the bundled data cut to a few batches.
const modelDir = join(root, "tiny");
{
  const vocab = await writeRobertaTokenizer(modelDir, { merges: 2000, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 3, { lmHead: false });
  await m.save(modelDir);
  m.dispose();
}

function options(
  task: "fac" | "lin",
  out: string,
  over: Partial<InfuseOptions> = {},
): InfuseOptions {
  const data = task === "fac"
    ? { train: join(DATA, "world/trex_train.arrow"), dev: join(DATA, "world/trex_dev.arrow") }
    : { train: join(DATA, "deps/train.arrow"), dev: join(DATA, "deps/dev.arrow") };
  return {
    task,
    model: modelDir,
    ...data,
    out,
    // 48 examples in batches of 16: 3 steps an epoch, 8 steps are 2.7 epochs; dev evaluated
    // every 3 steps (so it is cached too).
    limit: 48,
    devLimit: 40,
    batch: 16,
    steps: 8,
    evalEvery: 3,
    accumulate: 1,
    lr: 3e-3,
    epochs: 1,
    warmup: 2,
    weightDecay: 0,
    maxGradNorm: 1,
    maxLength: 32,
    tokenization: "original",
    seed: 5,
    adapter: { adapterHidden: 32, heads: 2, intermediate: 64, layers: 1, mask: "padding" },
    headDropout: 0.1,
    loss: "ce",
    evalBatch: 16,
    logEvery: 1,
    f16: false,
    resume: false,
    progress: { write: () => {}, tty: false },
    say: () => {},
    ...over,
  };
}

type Logged = { train: number[]; evals: Record<string, number>[]; start: Record<string, unknown> };

async function logged(out: string): Promise<Logged> {
  const records = (await Deno.readTextFile(join(out, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  return {
    train: records.filter((r) => r.event === "train").map((r) => r.loss),
    evals: records.filter((r) => r.event === "eval").map(({ time: _t, event: _e, ...m }) => m),
    start: records.find((r) => r.event === "start").config,
  };
}

/** Every loss and dev metric within `tol` (relative; absolute below 1). */
function assertClose(a: Logged, b: Logged, tol: number, what: string) {
  assert.equal(a.train.length, 8);
  assert.equal(b.train.length, a.train.length);
  const close = (x: number, y: number, name: string) =>
    assert.ok(Math.abs(x - y) <= tol * Math.max(1, Math.abs(x)), `${what} ${name}: ${x} vs ${y}`);
  a.train.forEach((x, i) => close(x, b.train[i], `loss at step ${i + 1}`));
  assert.equal(b.evals.length, a.evals.length);
  a.evals.forEach((m, i) => {
    for (const [k, v] of Object.entries(m)) close(v, b.evals[i][k], `dev ${k} #${i}`);
  });
}

const cases = [
  { task: "fac", mask: "padding" },
  { task: "fac", mask: "all" },
  { task: "lin", mask: "padding" },
] as const;

for (const { task, mask } of cases) {
  Deno.test(`feature cache: ${task} (mask ${mask}) losses equal the uncached run's`, async () => {
    const dir = join(root, `${task}_${mask}`);
    const run = async (name: string, over: Partial<InfuseOptions>) => {
      const o = options(task, join(dir, name), over);
      await infuse({ ...o, adapter: { ...o.adapter, mask } });
      return await logged(join(dir, name));
    };
    const off = await run("off", {});
    const f32 = await run("f32", { cacheFeatures: "memory", cacheDtype: "f32" });
    const f16 = await run("f16", { cacheFeatures: "disk", cacheDtype: "f16" });
    assert.equal(off.start.featureCache, "off");
    assert.equal(off.start.featureCacheStorage, null);
    assert.equal(f16.start.featureCache, "f16");
    assert.equal(f16.start.featureCacheStorage, "disk");
    assertClose(off, f32, 1e-6, "f32 cache");
    assertClose(off, f16, 1e-3, "f16 cache");
    assert.deepEqual([...Deno.readDirSync(join(dir, "f16", "feature_cache"))], [], "deleted");
  });
}

Deno.test("feature cache: cost line, memory limit, and what --resume may change", async () => {
  const lines: string[] = [], out = join(root, "resume");
  const say = (l: string) => lines.push(l);
  await assert.rejects(
    infuse(options("fac", join(root, "limit"), { cacheFeatures: "memory", cacheLimit: 1e3 })),
    /the feature cache needs .* MB, over --cache-limit \(0 MB\): pass --cache-features disk/,
  );
  await infuse(options("fac", out, { steps: 4, cacheFeatures: "memory", say }));
  const cost = lines.find((l) => l.startsWith("caching encoder states"));
  assert.match(
    cost ?? "",
    /^caching encoder states: 88 examples \(train \+ dev\), [\d,]+ tokens, 2 states of 64 = [\d.]+ MB in memory \(f16\)$/,
  );
  // Where the cache is kept may change on resume; its precision (or none) may not.
  await infuse(options("fac", out, { resume: true, steps: 6, cacheFeatures: "disk" }));
  assert.equal((await readTrainState(join(out, "checkpoint"))).step, 6);
  await assert.rejects(
    infuse(options("fac", out, { resume: true, steps: 8 })),
    /featureCache was f16, now off/,
  );
});

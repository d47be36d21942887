// The training loop: exact resume (dropout included), gradient accumulation equal to one
// big batch, a clear stop on NaN with the last checkpoint intact, Ctrl-C style stop, and
// the learning-rate schedule in the log.
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadCheckpoint } from "../../src/train/checkpoint.ts";
import { readJsonl } from "../../src/train/log.ts";
import { train, type TrainOptions } from "../../src/train/loop.ts";
import { AdamW } from "../../src/nn/optim.ts";
import { linearWarmupDecay } from "../../src/nn/schedule.ts";
import { full, mul, Tensor } from "../../src/tensor/mod.ts";
import { test } from "../setup.ts";
import { type Batch, tinySetup } from "./tiny.ts";
import { withTempDir } from "../temp_dir.ts";

const quiet = { write: () => {}, tty: false };

/** Runs the loop on a fresh tiny model (seed 5); returns losses and the final weights. */
async function run(out: string, p: number, o: Partial<TrainOptions<Batch>> = {}) {
  const s = tinySetup(5, p);
  try {
    const r = await train<Batch>({
      params: s.params,
      examples: 32,
      makeBatch: s.makeBatch,
      loss: s.loss,
      batchSize: 4,
      steps: 12,
      lr: 0.05,
      warmup: 3,
      weightDecay: 0.01,
      maxGradNorm: 1,
      seed: 11,
      dropout: [s.drop],
      out,
      progress: quiet,
      stop: () => false,
      ...o,
    });
    const weights = await Promise.all(s.model.parameters().map(async (t) => [...await t.data()]));
    return { ...r, weights };
  } finally {
    s.model.dispose();
  }
}

test("stop + resume gives the same losses and weights as one run (with dropout)", () =>
  withTempDir(async (dir) => {
    const straight = await run(join(dir, "a"), 0.3);
    let n = 0;
    const first = await run(join(dir, "b"), 0.3, { stop: () => n++ >= 5 });
    assert.equal(first.interrupted, true);
    assert.equal(first.step, 5);
    const rest = await run(join(dir, "b"), 0.3, { resume: true });
    assert.equal(rest.interrupted, false);
    assert.deepEqual([...first.losses, ...rest.losses], straight.losses);
    assert.deepEqual(rest.weights, straight.weights);
    const events = readJsonl(join(dir, "b", "metrics.jsonl")).map((r) => r.event);
    assert.ok(events.includes("interrupted") && events.includes("resume"));
  }));

test("2 accumulated micro-batches of 4 equal one batch of 8", () =>
  withTempDir(async (dir) => {
    const big = await run(join(dir, "a"), 0, { batchSize: 8, steps: 3 });
    const acc = await run(join(dir, "b"), 0, { batchSize: 4, accumulate: 2, steps: 3 });
    big.losses.forEach((l, i) => assert.ok(Math.abs(l - acc.losses[i]) < 1e-5, `loss ${i}`));
    big.weights.flat().forEach((w, i) => assert.ok(Math.abs(w - acc.weights.flat()[i]) < 1e-5));
  }));

test("a NaN loss stops with the step and leaves the last checkpoint loadable", () =>
  withTempDir(async (dir) => {
    const s = tinySetup(5, 0);
    let calls = 0;
    const nanAt7 = (b: Batch): Tensor => {
      const l = s.loss(b);
      return ++calls === 7 ? mul(l, full([1], NaN)) : l;
    };
    try {
      await assert.rejects(
        train<Batch>({
          params: s.params,
          examples: 32,
          makeBatch: s.makeBatch,
          loss: nanAt7,
          batchSize: 4,
          steps: 12,
          lr: 0.05,
          seed: 1,
          out: dir,
          checkpointEvery: 4,
          logEvery: 4,
          progress: quiet,
          stop: () => false,
        }),
        /diverged at step 7: loss NaN.*last checkpoint \(.*checkpoint, step 4\) is intact/,
      );
      const opt = new AdamW(s.params, { lr: 0 });
      try {
        assert.equal((await loadCheckpoint(join(dir, "checkpoint"), s.params, opt)).step, 4);
        for (const t of s.params) assert.ok((await t[1].data()).every(Number.isFinite));
      } finally {
        opt.dispose();
      }
    } finally {
      s.model.dispose();
    }
  }));

test("a non-finite parameter with a finite loss is never saved; the last checkpoint stays", () =>
  withTempDir(async (dir) => {
    const s = tinySetup(5, 0);
    // A parameter the loss does not use: no gradient, so the loss and the norm stay finite.
    const unused = Tensor.from([1, 2, 3], [3]);
    let calls = 0;
    const poisonAt6 = (b: Batch): Tensor => {
      if (++calls === 6) unused.write(new Float32Array([1, Infinity, 3]));
      return s.loss(b);
    };
    try {
      await assert.rejects(
        train<Batch>({
          params: [...s.params, ["unused", unused]],
          examples: 32,
          makeBatch: s.makeBatch,
          loss: poisonAt6,
          batchSize: 4,
          steps: 12,
          lr: 0.05,
          seed: 1,
          out: dir,
          checkpointEvery: 4,
          progress: quiet,
          stop: () => false,
        }),
        /diverged by step 8: the parameters or optimizer state hold 1 non-finite values, so nothing was saved; the last checkpoint \(.*step 4\) is intact/,
      );
      const state = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint/trainer_state.json")));
      assert.equal(state.step, 4);
    } finally {
      s.model.dispose();
      unused.dispose();
    }
  }));

test("logged learning rates follow linear warmup then decay; eval keeps the best", () =>
  withTempDir(async (dir) => {
    let e = 0;
    const r = await run(dir, 0, {
      evalEvery: 4,
      evaluate: () => Promise.resolve({ acc: [0.2, 0.7, 0.4][e++] }),
      bestMetric: "acc",
    });
    const log = readJsonl(join(dir, "metrics.jsonl"));
    const lrs = log.filter((x) => x.event === "train").map((x) => x.lr);
    assert.deepEqual(lrs, Array.from({ length: 12 }, (_, s) => linearWarmupDecay(s, 0.05, 3, 12)));
    assert.equal(lrs[0], 0);
    assert.deepEqual(r.best, { metric: "acc", value: 0.7, step: 8 });
    await Deno.stat(join(dir, "best", "trainer_state.json"));
  }));

test("profile: a table from the second step on and a profile event in the log", () =>
  withTempDir(async (dir) => {
    const lines: string[] = [];
    const progress = { write: (t: string) => void lines.push(t), tty: false };
    const r = await run(dir, 0, { steps: 4, profile: true, progress });
    assert.equal(r.step, 4);
    const table = lines.find((l) => l.startsWith("profile over 3 steps"));
    assert.ok(table, lines.join("\n"));
    assert.match(table, /matmul/);
    const ev = readJsonl(join(dir, "metrics.jsonl")).find((e) => e.event === "profile")!;
    assert.equal(ev.steps, 3);
    assert.ok(Array.isArray(ev.kernels) && (ev.kernels as unknown[]).length > 0);
  }));

// Checkpoints: exact round trip of parameters, moments, step and loop state; clear errors
// for a missing, interrupted or mismatched checkpoint.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AdamW } from "../../src/nn/optim.ts";
import {
  CheckpointError,
  loadCheckpoint,
  OPTIMIZER_FILE,
  saveCheckpoint,
  STATE_FILE,
  type TrainState,
} from "../../src/train/checkpoint.ts";
import { backward, crossEntropy, Tensor, tidy } from "../../src/tensor/mod.ts";
import { test } from "../setup.ts";
import { tinySetup } from "./tiny.ts";

const state: TrainState = {
  step: 0,
  sampler: { seed: 7, epoch: 2, position: 12 },
  dropout: [{ seed: 99, counter: 41 }],
  best: { metric: "f1", value: 0.5, step: 1 },
  config: { lr: 1e-3 },
};

async function values(ts: Tensor[]) {
  return await Promise.all(ts.map(async (t) => Array.from(await t.data())));
}

/** A model and an optimizer after two updates (non-zero moments). */
async function trained(seed: number) {
  const s = tinySetup(seed, 0);
  const opt = new AdamW(s.params, { lr: 0.1 });
  for (let i = 0; i < 2; i++) {
    tidy(() =>
      backward(
        crossEntropy(
          s.model.forward(Tensor.from(new Array(12).fill(i + 1), [2, 6])),
          Tensor.from([0, 2], [2], "i32"),
        ),
      )
    );
    opt.update().dispose();
    opt.zeroGrad();
  }
  await opt.m[0].data();
  return { ...s, opt, done: () => (opt.dispose(), s.model.dispose()) };
}

test("checkpoint round trip restores params, moments, step and state exactly", async () => {
  const dir = await Deno.makeTempDir();
  const a = await trained(1), b = await trained(2);
  try {
    await saveCheckpoint(join(dir, "ck"), a.params, a.opt, state);
    await saveCheckpoint(join(dir, "ck"), a.params, a.opt, state); // replaces the previous
    const got = await loadCheckpoint(join(dir, "ck"), b.params, b.opt);
    assert.deepEqual(got, { ...state, step: 2 });
    assert.equal(b.opt.step, 2);
    for (
      const pick of [
        (x: typeof a) => x.model.parameters(),
        (x: typeof a) => [...x.opt.m, ...x.opt.v],
      ]
    ) {
      assert.deepEqual(await values(pick(b)), await values(pick(a)));
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ck"]);
  } finally {
    a.done();
    b.done();
    await Deno.remove(dir, { recursive: true });
  }
});

test("missing, interrupted, corrupt or mismatched checkpoints are reported", async () => {
  const dir = await Deno.makeTempDir(), ck = join(dir, "ck");
  const a = await trained(1);
  try {
    await assert.rejects(loadCheckpoint(ck, a.params, a.opt), /no trainer_state.json/);
    // A save cut short leaves only its temporary folder.
    Deno.mkdirSync(join(dir, ".ck.tmp-deadbeef"));
    await assert.rejects(loadCheckpoint(ck, a.params, a.opt), /interrupted save/);
    await saveCheckpoint(ck, a.params, a.opt, state);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ck"]);
    // A save cut between moving the old folder aside and renaming the new one in.
    Deno.renameSync(ck, join(dir, ".ck.tmp-0badf00d-old"));
    assert.equal((await loadCheckpoint(ck, a.params, a.opt)).step, 2);
    const renamed = [["weight", a.params[0][1]], ["bias2", a.params[1][1]]] as [string, Tensor][];
    await assert.rejects(loadCheckpoint(ck, renamed, a.opt), /unexpected bias; .*missing bias2/);
    const swapped = [["weight", a.params[1][1]], ["bias", a.params[0][1]]] as [string, Tensor][];
    await assert.rejects(
      loadCheckpoint(ck, swapped, a.opt),
      /weight is F32 \[3,6\], the model has F32 \[3\]/,
    );
    Deno.writeTextFileSync(join(ck, STATE_FILE), "{");
    await assert.rejects(loadCheckpoint(ck, a.params, a.opt), /not JSON/);
    await saveCheckpoint(ck, a.params, a.opt, state);
    Deno.removeSync(join(ck, OPTIMIZER_FILE));
    await assert.rejects(loadCheckpoint(ck, a.params, a.opt), /optimizer.safetensors.*cannot open/);
  } finally {
    a.done();
    await Deno.remove(dir, { recursive: true });
  }
});

test("a damaged trainer_state.json is refused field by field; a swapped one by its step", async () => {
  const dir = await Deno.makeTempDir(), ck = join(dir, "ck");
  const a = await trained(1);
  try {
    await saveCheckpoint(ck, a.params, a.opt, state);
    const good = JSON.parse(Deno.readTextFileSync(join(ck, STATE_FILE)));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ step: "2" }, /step must be an integer in \[0, 2147483647\], got "2"/],
      [{ step: 1e12 }, /step must be an integer/],
      [{ sampler: { seed: "7", epoch: 2, position: 12 } }, /sampler.seed must be a non-negative/],
      [{ sampler: null }, /sampler must be an object/],
      [{ dropout: [{ seed: 99, counter: -1 }] }, /dropout\[0\] must be \{seed, counter\}/],
      [{ dropout: {} }, /dropout must be a list/],
      [{ best: { metric: "f1", value: "x", step: 1 } }, /best must be null or/],
      [{ best: { metric: "f1", value: 0.5, step: 9 } }, /a past step/],
      [{ config: [] }, /config must be an object/],
    ];
    for (const [change, expected] of cases) {
      Deno.writeTextFileSync(join(ck, STATE_FILE), JSON.stringify({ ...good, ...change }));
      await assert.rejects(
        loadCheckpoint(ck, a.params, a.opt),
        (e: Error) =>
          e instanceof CheckpointError && expected.test(e.message) &&
          /is damaged: .*--overwrite/.test(e.message),
        JSON.stringify(change),
      );
    }
    // A well-formed state file from another save: its step disagrees with the moments'.
    Deno.writeTextFileSync(join(ck, STATE_FILE), JSON.stringify({ ...good, step: 1 }));
    await assert.rejects(
      loadCheckpoint(ck, a.params, a.opt),
      /says step 1, optimizer.safetensors was saved at step 2/,
    );
  } finally {
    a.done();
    await Deno.remove(dir, { recursive: true });
  }
});

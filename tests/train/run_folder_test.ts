// What a run folder does across runs, through the one runner every training command uses:
// --resume extends a finished run only with more steps, --overwrite starts afresh, checkpoint
// history (--save-total-limit), a chosen --best-metric, the preset warmup cut on short runs,
// evaluations printed as they come, the log's restart markers, TensorBoard events, and the
// progress bar's steady-state rate.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTextAtomic } from "../../src/formats/atomic.ts";
import { EvalTable } from "../../src/train/eval_table.ts";
import { currentRun, readJsonl, readRunLog } from "../../src/train/log.ts";
import { Progress } from "../../src/train/progress.ts";
import { runConfig, RunError, type RunSettings } from "../../src/train/run.ts";
import { type Job, runTraining } from "../../src/train/runner.ts";
import { test } from "../setup.ts";
import { tinySetup } from "./tiny.ts";
import { withTempDir } from "../temp_dir.ts";

interface Run {
  lines: string[];
  notes: string[];
}

/** One run of the tiny classifier through runTraining; dev "score" rises, "dev_loss" falls. */
async function run(
  out: string,
  over: Partial<RunSettings> = {},
  r: Run = { lines: [], notes: [] },
) {
  let evals = 0;
  const scores = [0.2, 0.5, 0.4, 0.7, 0.6, 0.9, 0.8, 0.95];
  const makeJob = (): Job => {
    const s = tinySetup(5, 0);
    return {
      trainSize: 32,
      loss: (indices) => s.loss(s.makeBatch(indices)),
      params: s.params,
      dropout: [s.drop],
      evaluate: () => {
        const score = scores[evals++ % scores.length];
        return Promise.resolve({ score, dev_loss: 1 - score });
      },
      bestMetric: "score",
      describe: (total) => `tiny: ${total} steps`,
      save: (dir, at) => writeTextAtomic(join(dir, "at.json"), JSON.stringify(at)).then(() => {}),
      dispose: () => s.model.dispose(),
    };
  };
  const settings: RunSettings = {
    out,
    batch: 4,
    lr: 0.05,
    epochs: 1,
    steps: 4,
    warmup: 1,
    weightDecay: 0,
    maxGradNorm: 1,
    seed: 3,
    evalEvery: 2,
    resume: false,
    progress: { write: (t) => r.lines.push(t), tty: false },
    stop: () => false,
    say: (l) => r.notes.push(l),
    ...over,
  };
  return await runTraining({
    settings,
    config: { task: "tiny", ...runConfig(settings) },
    title: "tiny",
    output: "model",
    build: () => Promise.resolve(makeJob()),
  });
}

test("a finished run resumes only to extend it; --overwrite starts afresh", () =>
  withTempDir(async (dir) => {
    const out = join(dir, "run");
    assert.equal((await run(out)).step, 4);
    await assert.rejects(
      run(out, { resume: true }),
      (e) => e instanceof RunError && /is finished \(step 4 of 4\).*larger --steps/.test(e.message),
    );
    await assert.rejects(run(out, { resume: true, steps: 3 }), /at step 4, past this run's 3/);
    const r: Run = { lines: [], notes: [] };
    const more = await run(out, { resume: true, steps: 6 }, r);
    assert.equal(more.step, 6);
    assert.ok(r.notes.some((l) => /the run had 4 steps, now 6: continuing from step 4/.test(l)));
    const log = readRunLog(join(out, "metrics.jsonl"));
    assert.deepEqual(log.map((x) => x.event).filter((e) => e === "done" || e === "resume"), [
      "resume",
      "done",
    ]);
    await assert.rejects(run(out), /already holds a run; pass --resume.*--overwrite/);
    const fresh = await run(out, { overwrite: true, seed: 4 });
    assert.equal(fresh.step, 4);
    const events = readJsonl(join(out, "metrics.jsonl")).map((x) => x.event);
    assert.equal(events.filter((e) => e === "start").length, 1, "the old log was deleted");
  }));

test("--save-total-limit keeps the newest N checkpoints, the newest hard-linked", () =>
  withTempDir(async (dir) => {
    const out = join(dir, "run");
    await run(out, { steps: 6, checkpointEvery: 2, saveTotalLimit: 2 });
    const kept = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => /^checkpoint/.test(n));
    assert.deepEqual(kept.sort(), ["checkpoint", "checkpoint-4", "checkpoint-6"]);
    const a = await Deno.stat(join(out, "checkpoint", "model.safetensors"));
    const b = await Deno.stat(join(out, "checkpoint-6", "model.safetensors"));
    assert.equal(a.ino, b.ino, "the newest is a hard link, not a copy");
    const c = await Deno.stat(join(out, "checkpoint-4", "model.safetensors"));
    assert.notEqual(c.ino, a.ino);
    const none = join(dir, "one");
    await run(none, { steps: 4, checkpointEvery: 2 });
    assert.ok(!(await Deno.stat(join(none, "checkpoint-4")).catch(() => null)));
  }));

test("--best-metric picks best/ by the named metric, losses lower-is-better", () =>
  withTempDir(async (dir) => {
    const hi = await run(join(dir, "hi"), { steps: 8 });
    assert.deepEqual(hi.best, { metric: "score", value: 0.7, step: 8 });
    const lo = await run(join(dir, "lo"), { steps: 8, bestMetric: "dev_loss" });
    assert.equal(lo.best?.metric, "dev_loss");
    assert.ok(Math.abs(lo.best!.value - 0.3) < 1e-9 && lo.best!.step === 8);
    const lo4 = await run(join(dir, "lo4"), { steps: 4, bestMetric: "dev_loss" });
    assert.equal(lo4.best?.step, 4, "0.5 at step 4 beats 0.8 at step 2");
    const out = join(dir, "bad");
    await assert.rejects(
      run(out, { bestMetric: "f1" }),
      /"f1" is not among the dev metrics \(score, dev_loss\); the checkpoint at step 2 is saved/,
    );
    await Deno.stat(join(out, "checkpoint"));
  }));

test("evaluations print as a table with the best so far", () =>
  withTempDir(async (dir) => {
    const r: Run = { lines: [], notes: [] };
    await run(join(dir, "run"), {}, r);
    const evals = r.lines.join("").split("\n").filter((l) => /eval|\| /.test(l));
    assert.match(evals[0], /^eval\s+step\s+score\s+dev_loss\s+\| best score$/);
    assert.match(evals[1], /^\s+2\/4\s+0\.2000\s+0\.8000\s+\| 0\.2000 at step 2$/);
    assert.match(evals[2], /^\s+4\/4\s+0\.5000\s+0\.5000\s+\| 0\.5000 at step 4$/);
    assert.equal(evals.length, 3, "one header");
  }));

test("a preset warmup over half a short run is cut to 10%, with a note; a given one is kept", () =>
  withTempDir(async (dir) => {
    const r: Run = { lines: [], notes: [] };
    await run(join(dir, "a"), { steps: 20, warmup: 1200, presetWarmup: true }, r);
    assert.ok(
      r.notes.some((l) => /preset's warmup \(1200 steps\).*warming up for 2 steps/.test(l)),
    );
    const start = readJsonl(join(dir, "a", "metrics.jsonl"))[0];
    const lrs = readJsonl(join(dir, "a", "metrics.jsonl")).filter((x) => x.event === "train")
      .map((x) => x.lr as number);
    assert.ok(Math.abs(lrs[2] - 0.05 * 18 / 18) < 1e-9, `lr at step 3 is the peak: ${lrs[2]}`);
    assert.equal((start.config as Record<string, unknown>).warmupSteps, 2);
    const q: Run = { lines: [], notes: [] };
    await run(join(dir, "b"), { steps: 20, warmup: 1200 }, q);
    assert.ok(q.notes.some((l) => /warmup \(1200 steps\) covers the whole run/.test(l)));
  }));

test("the log marks a restart and a resume; currentRun keeps the run as it stands", () =>
  withTempDir(async (dir) => {
    const out = join(dir, "run");
    await Deno.mkdir(out);
    const dead = [{ event: "start", step: 0 }, { event: "train", step: 1, loss: 9 }];
    await Deno.writeTextFile(
      join(out, "metrics.jsonl"),
      dead.map((x) => JSON.stringify(x) + "\n").join(""),
    );
    await run(out, { steps: 2 });
    const all = readJsonl(join(out, "metrics.jsonl"));
    const start = all.findLast((x) => x.event === "start")!;
    assert.deepEqual(start.restart, { earlier_records: 2 });
    assert.equal(typeof start.version, "string");
    assert.ok(!readRunLog(join(out, "metrics.jsonl")).some((x) => x.loss === 9));
    // A killed run's steps past its checkpoint are dropped at the resume that redoes them.
    const records = [
      { event: "start", step: 0 },
      { event: "train", step: 1 },
      { event: "train", step: 2 },
      { event: "train", step: 3 },
      { event: "resume", step: 2 },
      { event: "train", step: 3 },
    ];
    assert.deepEqual(currentRun(records).map((x) => `${x.event}${x.step}`), [
      "start0",
      "train1",
      "train2",
      "resume2",
      "train3",
    ]);
  }));

test("--report-to tensorboard writes an event file under OUT/tensorboard", () =>
  withTempDir(async (dir) => {
    const out = join(dir, "run");
    await run(out, { reportTo: ["tensorboard"] });
    const files = [...Deno.readDirSync(join(out, "tensorboard"))].map((e) => e.name);
    assert.equal(files.length, 1);
    assert.match(files[0], /^events\.out\.tfevents\./);
    const bytes = await Deno.readFile(join(out, "tensorboard", files[0]));
    const text = new TextDecoder("latin1").decode(bytes);
    for (const tag of ["train/loss", "train/learning_rate", "train/grad_norm", "eval/score"]) {
      assert.ok(text.includes(tag), tag);
    }
  }));

test("EvalTable prints a new header when the metrics change", () => {
  const t = new EvalTable(100);
  assert.equal(t.lines(10, { a: 1 }, null).length, 2);
  assert.equal(t.lines(20, { a: 0.5 }, null).length, 1);
  assert.equal(t.lines(30, { a: 0.5, b: 2 }, null).length, 2);
});

test("the progress rate leaves out the first item (kernel compilation)", () => {
  let now = 0;
  const lines: string[] = [];
  const bar = new Progress(10, {
    tty: false,
    every: 0,
    write: (t) => lines.push(t),
    now: () => now,
  });
  now = 60_000; // the first step compiles for a minute
  bar.tick();
  for (let i = 0; i < 4; i++) {
    now += 500;
    bar.tick();
  }
  assert.equal(bar.rate, 2, "4 steps in 2 s after the first");
  assert.match(lines.at(-1)!, /5\/10 50% 2 it\/s elapsed 1:02 ETA 0:03/);
  const mib = new Progress(1, {
    tty: false,
    unit: "MiB",
    write: (t) => lines.push(t),
    now: () => 0,
  });
  mib.tick();
  assert.match(lines.at(-1)!, /1\/1 MiB 100% .* MiB\/s/);
});

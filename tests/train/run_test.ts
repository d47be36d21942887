// The --resume guard: a run resumes only with the settings it was started with, and a
// checkpoint written before a setting was recorded reads as what it ran with (so an older run
// resumes, and one that would now run differently is refused).
import assert from "node:assert/strict";
import { join } from "node:path";
import { STATE_FILE } from "../../src/train/checkpoint.ts";
import { openRun, recordedLater } from "../../src/train/run.ts";

/** A run folder whose checkpoint records `config` (the state file is all openRun reads). */
async function runWith(config: Record<string, unknown>): Promise<string> {
  const out = await Deno.makeTempDir({ prefix: "kadapter_run_" });
  await Deno.mkdir(join(out, "checkpoint"));
  const state = { format: "kadapter-train-state/2", step: 3, sampler: {}, dropout: [], config };
  await Deno.writeTextFile(join(out, "checkpoint", STATE_FILE), JSON.stringify(state));
  return out;
}

const FIXED = ["task", "settings", "lr", "tokenization"];

Deno.test("recordedLater: tokenization hf, TACRED's cap 0, nothing else invented", () => {
  assert.deepEqual(recordedLater({ task: "relation", settings: {}, lr: 1 }), {
    task: "relation",
    settings: { maxNegatives: 0 },
    lr: 1,
    tokenization: "hf",
  });
  const now = { task: "relation", settings: { maxNegatives: 45000 }, tokenization: "original" };
  assert.deepEqual(recordedLater(now), now);
  assert.deepEqual(recordedLater({ task: "entity-typing", settings: { figer: false } }), {
    task: "entity-typing",
    settings: { figer: false },
    tokenization: "hf",
  });
});

Deno.test("openRun: an older checkpoint resumes as it ran; a changed setting is refused", async () => {
  const old = { task: "relation", settings: {}, lr: 0.001 };
  const out = await runWith(old);
  try {
    const same = { task: "relation", settings: { maxNegatives: 0 }, lr: 0.001, tokenization: "hf" };
    assert.equal((await openRun(out, true, same, FIXED))?.tokenization, "hf");
    await assert.rejects(
      openRun(out, true, { ...same, tokenization: "original" }, FIXED),
      /--resume: tokenization was hf, now original/,
    );
    await assert.rejects(
      openRun(out, true, { ...same, settings: { maxNegatives: 45000 } }, FIXED),
      /settings was \{"maxNegatives":0\}, now \{"maxNegatives":45000\}/,
    );
    await assert.rejects(openRun(out, false, same, FIXED), /already holds a run; pass --resume/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

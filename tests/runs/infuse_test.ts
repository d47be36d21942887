// Knowledge infusion end to end on the bundled data with a tiny random encoder: fac and lin
// learn (well above the majority class / chance and above the untrained adapter), training a
// second adapter leaves the first bit-identical, and a real Ctrl-C of `kadapter train fac`
// followed by --resume ends with the same weights as an uninterrupted run.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu } from "../../src/gpu/device.ts";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { readRows } from "../../src/formats/arrow.ts";
import { openSafetensors } from "../../src/formats/safetensors.ts";
import { loadAdapter, readAdapterFolder } from "../../src/models/adapter_folder.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import { infuse, type InfuseOptions } from "../../src/runs/infuse.ts";
import { readTrainState } from "../../src/train/checkpoint.ts";
import { MAIN } from "../kadapter_cli.ts";

const DATA = new URL("../../data/", import.meta.url).pathname;

await initGpu();
const root = await Deno.makeTempDir({ prefix: "kadapter_pretrain_" });
const modelDir = join(root, "tiny");
{
  const vocab = await writeRobertaTokenizer(modelDir, { merges: 2000, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 3, { lmHead: false });
  await m.save(modelDir);
  m.dispose();
}
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

const quiet = { write: () => {}, tty: false };

/** A small adapter and the settings the CLI would pass, for `task` on the bundled data. */
function options(task: "fac" | "lin", out: string, over: Partial<InfuseOptions> = {}) {
  const data = task === "fac"
    ? { train: join(DATA, "world/trex_train.arrow"), dev: join(DATA, "world/trex_dev.arrow") }
    : { train: join(DATA, "deps/train.arrow"), dev: join(DATA, "deps/dev.arrow") };
  return {
    task,
    model: modelDir,
    ...data,
    out,
    batch: 32,
    accumulate: 1,
    lr: 3e-3,
    epochs: 1,
    warmup: 10,
    weightDecay: 0,
    maxGradNorm: 1,
    maxLength: 64,
    tokenization: "original",
    seed: 42,
    // Padding masked, so each batch runs at its longest row (the released layout, mask "all",
    // is checked in fac_test, lin_test and released_forward_test).
    adapter: { adapterHidden: 64, heads: 4, intermediate: 128, layers: 1, mask: "padding" },
    headDropout: 0.1,
    loss: "ce",
    evalBatch: 128,
    logEvery: 10,
    f16: false,
    resume: false,
    progress: quiet,
    say: () => {},
    ...over,
  } satisfies InfuseOptions;
}

/** Share of the most frequent relation in the dev split. */
async function majorityShare(path: string): Promise<number> {
  const counts = new Map<string, number>();
  let n = 0;
  for await (const rows of readRows(path, "trex-rc")) {
    for (const r of rows) counts.set(r.relation, (counts.get(r.relation) ?? 0) + 1), n++;
  }
  return Math.max(...counts.values()) / n;
}

const bytes = (dir: string) => Deno.readFile(join(dir, "adapter.safetensors"));

Deno.test("fac and lin learn; training fac leaves a trained lin adapter bit-identical", async () => {
  // lin first: the adapter whose bytes must survive the fac run.
  const lin = await infuse(options("lin", join(root, "lin"), { steps: 100, evalEvery: 100 }));
  const linUntrained = await infuse(options("lin", join(root, "lin0"), { steps: 1, lr: 0 }));
  const linBytes = await bytes(lin.adapterDir);

  const fac = await infuse(options("fac", join(root, "fac"), { steps: 120, evalEvery: 60 }));
  const facUntrained = await infuse(options("fac", join(root, "fac0"), { steps: 1, lr: 0 }));
  const majority = await majorityShare(join(DATA, "world/trex_dev.arrow"));

  const f1 = fac.dev!.micro_f1, f1Before = facUntrained.dev!.micro_f1;
  assert.ok(f1 > majority + 0.08, `fac micro-F1 ${f1} vs majority class ${majority}`);
  assert.ok(f1 > f1Before + 0.1, `fac micro-F1 ${f1} vs untrained adapter ${f1Before}`);
  assert.ok(fac.dev!.macro_f1 > facUntrained.dev!.macro_f1, "macro-F1 rises too");
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last] = [mean(fac.losses.slice(0, 10)), mean(fac.losses.slice(-10))];
  assert.ok(last < first - 0.3, `fac loss, mean of 10 steps: ${first} -> ${last}`);
  const uas = lin.dev!.uas, uasBefore = linUntrained.dev!.uas;
  assert.ok(uas > 0.25 && uas > uasBefore + 0.15, `lin UAS ${uas} vs untrained ${uasBefore}`);
  assert.equal(fac.best?.metric, "micro_f1");
  const saved = await readAdapterFolder(fac.adapterDir);
  assert.deepEqual(saved.meta.training?.dev_metrics, fac.dev);
  assert.equal(saved.meta.training?.dev, join(DATA, "world/trex_dev.arrow"));
  assert.equal(saved.head?.labels?.length, 12);

  assert.deepEqual(await bytes(lin.adapterDir), linBytes, "the lin adapter file is unchanged");
  const { adapter, meta } = await loadAdapter(lin.adapterDir, { hidden: 64, layers: 2 });
  assert.equal(meta.task, "lin");
  const file = await openSafetensors(join(lin.adapterDir, "adapter.safetensors"));
  try {
    for (const [name, t] of adapter.namedParameters()) {
      assert.deepEqual(await t.data(), await file.readF32(name), name);
    }
  } finally {
    file.close();
    adapter.dispose();
  }
});

/** Runs `kadapter train fac` with these flags as a child process. */
function child(out: string, extra: string[] = []) {
  const args = [
    ...["run", "-A", MAIN, "train", "fac", "--model", modelDir, "--out", out],
    ...["--train", join(DATA, "world/trex_train.arrow"), "--limit", "400"],
    ...["--batch", "8", "--lr", "3e-3", "--steps", "150", "--warmup", "5", "--seed", "7"],
    ...["--adapter-size", "32", "--adapter-heads", "2", "--adapter-ffn", "64"],
    ...["--adapter-layers", "1", "--log-every", "1", ...extra],
  ];
  return new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
}

async function lastLoggedStep(path: string): Promise<number> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const steps = text.split("\n").filter((l) => l.includes('"event":"train"')).map((l) =>
    JSON.parse(l).step as number
  );
  return steps.at(-1) ?? 0;
}

Deno.test("Ctrl-C saves a checkpoint, exits 130, and --resume ends where a straight run does", async () => {
  const straight = await child(join(root, "straight")).output();
  assert.equal(straight.code, 0, new TextDecoder().decode(straight.stderr));

  const out = join(root, "cut"), proc = child(out);
  const metrics = join(out, "metrics.jsonl");
  while (await lastLoggedStep(metrics) < 20) await new Promise((r) => setTimeout(r, 50));
  proc.kill("SIGINT");
  const cut = await proc.output();
  const err = new TextDecoder().decode(cut.stderr);
  assert.equal(cut.code, 130, err);
  assert.match(err, /interrupted at step \d+\/150; checkpoint saved/);
  const state = await readTrainState(join(out, "checkpoint"));
  assert.ok(state.step >= 20 && state.step < 150, `stopped at step ${state.step}`);

  const again = await child(out).output();
  assert.equal(again.code, 1, "an existing run is not overwritten without --resume");
  assert.match(new TextDecoder().decode(again.stderr), /already holds a run; pass --resume/);

  const resumed = await child(out, ["--resume"]).output();
  assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
  assert.deepEqual(
    await bytes(join(out, "adapter")),
    await bytes(join(root, "straight", "adapter")),
    "resumed weights equal the straight run's",
  );
  const changed = await child(out, ["--resume", "--lr", "1e-3"]).output();
  assert.equal(changed.code, 1);
  assert.match(new TextDecoder().decode(changed.stderr), /lr was 0.003, now 0.001/);
});

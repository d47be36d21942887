// The demo's run: the GPU self-test, the folder claimed for these settings, each stage as the
// kadapter command a user would type (printed, then run through the dispatcher handed in, so
// the demo does not import the table of commands that lists it), finished stages kept,
// an interrupted one resumed, Ctrl-C handled; then the paper-shaped tables and OUT/report.html.
import { join } from "node:path";
import config from "../../deno.json" with { type: "json" };
import { deviceName, initGpu } from "../gpu/device.ts";
import { writeTextAtomic } from "../formats/atomic.ts";
import { checkMatmul, describeCheck } from "../runs/selftest.ts";
import { readJsonl } from "../train/log.ts";
import { interrupted, watchInterrupts } from "../train/interrupt.ts";
import { fmtDuration } from "../train/progress.ts";
import { RunError } from "../train/run.ts";
import { demoStages, inputsDir, type PlanOptions, type Stage } from "./plan.ts";
import { type StageRecord, writeDemoReport } from "./report.ts";
import { demoTables, textTable } from "./results.ts";

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/** A stage is done when its output exists and, for a training run, its log ends with "done" (an
 * interrupted run also writes its output, and ends with "interrupted"). */
async function finished(s: Stage): Promise<boolean> {
  if (!await exists(s.output)) return false;
  if (!s.run) return true;
  const log = join(s.run, "metrics.jsonl");
  return await exists(log) && readJsonl(log).at(-1)?.event === "done";
}

/** Refuses to mix two demos' settings in one folder; records them for the next run. */
async function claimFolder(o: PlanOptions): Promise<boolean> {
  const path = join(o.out, "demo.json");
  const mine = { seed: o.seed, quick: o.quick, pretrain: o.pretrain };
  let prior: typeof mine | null = null;
  try {
    prior = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (prior && JSON.stringify(prior) !== JSON.stringify(mine)) {
    throw new RunError(
      `${o.out} holds a demo run with other settings (${JSON.stringify(prior)}); ` +
        `pass another --out or delete ${o.out}`,
    );
  }
  await Deno.mkdir(o.out, { recursive: true });
  await writeTextAtomic(path, JSON.stringify(mine) + "\n");
  return prior !== null;
}

/** Runs the demo `o` with `run` (the dispatcher); returns the exit code. */
export async function runDemo(
  o: PlanOptions,
  run: (args: string[]) => Promise<number>,
): Promise<number> {
  const started = performance.now();
  await initGpu();
  const device = deviceName() ?? "unknown adapter";
  console.log(`GPU: ${device}`);
  const check = await checkMatmul(256, 256, 256, true, 0.2);
  console.log(describeCheck(check));
  if (!check.pass) {
    console.error("kadapter: the GPU self-test failed; run 'kadapter doctor' for details");
    return 1;
  }
  if (await claimFolder(o)) console.log(`continuing the demo in ${o.out}`);
  // Loaded here, not at startup: the bundle is a few MB that other commands do not need.
  const { writeBundled } = await import("./bundled.ts");
  await writeBundled(inputsDir(o.out));

  // The stages' loops see the same press (interrupt.ts: one watcher for the process).
  const unwatch = await watchInterrupts(
    "kadapter demo: stopping after the current step (Ctrl-C again quits at once)",
  );
  const stages = demoStages(o);
  const records = new Map<string, StageRecord>();
  try {
    for (const [i, s] of stages.entries()) {
      const head = `[${i + 1}/${stages.length}] ${s.title}`;
      if (await finished(s)) {
        console.log(`\n${head}: done by an earlier run, kept`);
        records.set(s.id, { id: s.id, seconds: null });
        continue;
      }
      const resume = s.run !== null && await exists(join(s.run, "checkpoint"));
      const args = [...s.args, ...(s.run ? ["--report"] : []), ...(resume ? ["--resume"] : [])];
      console.log(`\n${head}\n$ kadapter ${args.join(" ")}`);
      const t0 = performance.now();
      const code = await run(args);
      if (code === 130 || interrupted()) {
        console.error(
          `kadapter: demo interrupted in stage ${s.id}; run the same command again to continue`,
        );
        return 130;
      }
      if (code !== 0) throw new RunError(`demo stage ${s.id} failed (exit code ${code})`);
      records.set(s.id, { id: s.id, seconds: (performance.now() - t0) / 1000 });
    }
  } finally {
    unwatch();
  }

  const tables = demoTables(o);
  const seconds = (performance.now() - started) / 1000;
  const report = await writeDemoReport(o, {
    device,
    version: config.version,
    seconds,
    stages,
    records,
    tables,
  });
  console.log(`\n${tables.map(textTable).join("\n\n")}\n`);
  console.log(`demo done in ${fmtDuration(seconds)}; report: ${report}`);
  return 0;
}

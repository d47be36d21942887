// kadapter demo: the whole method end to end on bundled data with a tiny encoder, run as the
// kadapter commands a user would type (printed as it goes), then the paper-shaped tables and
// OUT/report.html. Rerunning the same demo skips finished stages and resumes an interrupted one.
// The dispatcher is handed in (demoCommand(runCli)), so this file does not import the table
// of commands that lists it.
import { join } from "node:path";
import config from "../../deno.json" with { type: "json" };
import { initGpu } from "../gpu/device.ts";
import { writeTextAtomic } from "../formats/atomic.ts";
import { demoStages, inputsDir, type PlanOptions, type Stage } from "../demo/plan.ts";
import { type StageRecord, writeDemoReport } from "../demo/report.ts";
import { demoTables, textTable } from "../demo/results.ts";
import { readJsonl } from "../train/log.ts";
import { fmtDuration } from "../train/progress.ts";
import { RunError } from "../train/run.ts";
import { type Command, numberOption } from "./options.ts";
import { checkMatmul, describeCheck } from "./selftest.ts";

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

/** The demo command, running each stage's command line through `run` (the dispatcher). */
export const demoCommand = (run: (args: string[]) => Promise<number>): Command => ({
  spec: {
    name: "demo",
    summary: "K-Adapter end to end on bundled data with a tiny encoder: tables and a report",
    options: {
      out: { type: "string", arg: "DIR", default: "runs/demo", help: "output folder" },
      seed: { type: "string", arg: "N", default: "42", help: "seed of every stage" },
      quick: { type: "boolean", help: "a shorter run with fewer steps per stage (for CI)" },
      pretrain: {
        type: "boolean",
        help: "pretrain the tiny encoder here (about 3 more minutes) instead of the bundled one",
      },
    },
    details: "Stages: the fac adapter (relation classification on sentences stating a synthetic " +
      "world's facts) and the lin adapter (dependency heads) infused into a frozen tiny RoBERTa " +
      "that was masked-LM pretrained on text naming the world's entities without its facts; " +
      "entity typing and relation classification fine-tuned with no adapter, F, L and F+L; " +
      "LAMA probes of the encoder alone and of encoder + fac adapter, each through a new linear " +
      "MLM layer. Each stage is a kadapter command (printed before it runs) writing a folder " +
      "under DIR with metrics.jsonl, curves.svg and report.html; DIR/report.html gathers the " +
      "tables and every stage's curves. Inputs are written to DIR/inputs. About 4 minutes on " +
      "2 CPU cores with software WebGPU (--quick: about 2). Ctrl-C stops after the current " +
      "step; the same command again continues where it stopped.",
  },
  async run(values) {
    const o: PlanOptions = {
      out: String(values.out),
      seed: numberOption(values, "seed", { max: 2 ** 31 - 1000 }),
      quick: values.quick === true,
      pretrain: values.pretrain === true,
    };
    const started = performance.now();
    const g = await initGpu();
    const device = g.adapterInfo.description || g.adapterInfo.vendor || "unknown adapter";
    console.log(`GPU: ${device}`);
    const check = await checkMatmul(256, 256, 256, true, 0.2);
    console.log(describeCheck(check));
    if (!check.pass) {
      console.error("kadapter: the GPU self-test failed; run 'kadapter doctor' for details");
      return 1;
    }
    if (await claimFolder(o)) console.log(`continuing the demo in ${o.out}`);
    // Loaded here, not at startup: the bundle is a few MB that other commands do not need.
    const { writeBundled } = await import("../demo/bundled.ts");
    await writeBundled(inputsDir(o.out));

    let interrupts = 0;
    const onInterrupt = () => {
      if (++interrupts > 1) Deno.exit(130);
      console.error("\nkadapter demo: stopping after the current step (Ctrl-C again: now)");
    };
    Deno.addSignalListener("SIGINT", onInterrupt);
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
        if (code === 130 || interrupts > 0) {
          console.error(
            `kadapter: demo interrupted in stage ${s.id}; run the same command again to continue`,
          );
          return 130;
        }
        if (code !== 0) throw new RunError(`demo stage ${s.id} failed (exit code ${code})`);
        records.set(s.id, { id: s.id, seconds: (performance.now() - t0) / 1000 });
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
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
  },
});

// kadapter demo: the GPU check, then a small end-to-end training run on bundled data.
import { join } from "node:path";
import { fmtBytes, initGpu } from "../gpu/device.ts";
import { pool } from "../gpu/pool.ts";
import { runDemo } from "../train/demo.ts";
import { fmtDuration } from "../train/progress.ts";
import { type Command, numberOption } from "./options.ts";
import { checkMatmul, describeCheck } from "./selftest.ts";

const DATA = join(import.meta.dirname!, "..", "..", "data", "reviews");

export const demo: Command = {
  spec: {
    name: "demo",
    summary: "check the GPU, then train a tiny transformer on the bundled reviews task",
    options: {
      out: { type: "string", arg: "DIR", default: "runs/demo", help: "output folder" },
      seed: { type: "string", arg: "N", default: "42", help: "seed of weights, order, dropout" },
      steps: { type: "string", arg: "N", default: "400", help: "training steps" },
      quick: { type: "boolean", help: "a short run (100 steps, one evaluation) for smoke tests" },
      batch: { type: "string", arg: "N", default: "32", help: "examples per step" },
      lr: { type: "string", arg: "LR", default: "0.003", help: "peak learning rate" },
      data: { type: "string", arg: "DIR", default: DATA, help: "dataset folder" },
    },
    details: "Appends to DIR/metrics.jsonl: the run's settings, then one JSON object per " +
      "step and evaluation. Ctrl-C stops after the current step.",
  },
  async run(values) {
    const steps = values.quick ? 100 : numberOption(values, "steps", { min: 1 });
    const opts = {
      data: String(values.data),
      out: String(values.out),
      seed: numberOption(values, "seed", { min: 0, max: 2 ** 32 - 1 }),
      steps,
      batch: numberOption(values, "batch", { min: 1, max: 4096 }),
      lr: numberOption(values, "lr", { min: 0, max: 1, integer: false }),
      // An evaluation takes seconds on software WebGPU: a quick run evaluates once, at the end.
      evalEvery: values.quick ? 0 : Math.max(1, Math.round(steps / 4)),
    };
    const g = await initGpu();
    console.log(`GPU: ${g.adapterInfo.description || "unknown adapter"}`);
    const check = await checkMatmul(256, 256, 256, true, 0.2);
    console.log(describeCheck(check));
    if (!check.pass) {
      console.error("kadapter: the GPU self-test failed; run 'kadapter doctor' for details");
      return 1;
    }

    let interrupts = 0;
    const onInterrupt = () => {
      // A second Ctrl-C does not wait for the step to finish.
      if (++interrupts > 1) Deno.exit(130);
      console.error("\nkadapter: interrupted; stopping after this step (Ctrl-C again to quit now)");
    };
    Deno.addSignalListener("SIGINT", onInterrupt);
    let r;
    try {
      r = await runDemo({ ...opts, stop: () => interrupts > 0 });
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }

    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const rows: [string, string][] = [
      ["steps", `${r.steps} of ${opts.steps} (batch ${opts.batch})`],
      ["time", `${fmtDuration(r.seconds)} (${(r.steps / r.seconds).toFixed(1)} steps/s)`],
      ["train loss", `${r.firstLoss.toFixed(4)} -> ${r.trainLoss.toFixed(4)}`],
      [
        "test accuracy",
        r.test
          ? `${pct(r.test.accuracy)} (${r.test.examples} held-out; chance ${pct(r.chance)})`
          : "not run (interrupted)",
      ],
      ["test loss", r.test ? r.test.loss.toFixed(4) : "-"],
      ["parameters", r.parameters.toLocaleString("en-US")],
      [
        "GPU memory",
        `peak ${fmtBytes(pool.stats.peakBytesInUse)} in use, ${
          fmtBytes(pool.stats.peakBytesAllocated)
        } allocated`,
      ],
      ["metrics", r.metrics],
    ];
    console.log("\nsummary");
    for (const [k, v] of rows) console.log(`  ${k.padEnd(14)} ${v}`);
    if (r.interrupted) {
      console.error(`kadapter: stopped at step ${r.steps}; metrics so far are in ${r.metrics}`);
      return 130;
    }
    return 0;
  },
};

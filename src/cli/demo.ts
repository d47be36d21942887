// kadapter demo: the whole method end to end on bundled data with a tiny encoder, run as the
// kadapter commands a user would type (printed as it goes), then the paper-shaped tables and
// OUT/report.html. Rerunning the same demo skips finished stages and resumes an interrupted one.
// The dispatcher is handed in (demoCommand(runCli)), so no file of the demo imports the table
// of commands that lists it. The run itself is src/demo/run.ts.
import type { PlanOptions } from "../demo/plan.ts";
import { runDemo } from "../demo/run.ts";
import { type Command, numberOption } from "./options.ts";

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
      "tables and every stage's curves. Inputs are written to DIR/inputs. About 4 to 8 minutes on " +
      "2 CPU cores with software WebGPU (--quick: about 2). Ctrl-C stops after the current " +
      "step; the same command again continues where it stopped.",
  },
  run(values) {
    const o: PlanOptions = {
      out: String(values.out),
      seed: numberOption(values, "seed", { max: 2 ** 31 - 1000 }),
      quick: values.quick === true,
      pretrain: values.pretrain === true,
    };
    return runDemo(o, run);
  },
});

// kadapter: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU.
// This file only reads the command name and hands the rest to src/cli/<command>.ts.
import { parseArgs } from "node:util";
import { GpuError } from "./src/gpu/device.ts";
import { type Command, parseCommand, UsageError } from "./src/cli/options.ts";
import { doctor } from "./src/cli/doctor.ts";
import { demo } from "./src/cli/demo.ts";
import { encode } from "./src/cli/encode.ts";
import { modelInit } from "./src/cli/model.ts";
import { modelPretrain } from "./src/cli/model_pretrain.ts";
import { dataConvert } from "./src/cli/data.ts";
import { trainFac, trainLin } from "./src/cli/train.ts";
import { probeLama, probeTrainMlm } from "./src/cli/probe.ts";
import {
  evalEntityTyping,
  evalMultipleChoice,
  evalRelation,
  evalSpanQa,
  finetuneEntityTyping,
  finetuneMultipleChoice,
  finetuneRelation,
  finetuneSpanQa,
  predictEntityTyping,
  predictMultipleChoice,
  predictRelation,
  predictSpanQa,
} from "./src/cli/finetune.ts";
import { ProbeError } from "./src/tasks/lama_probe.ts";
import { RunError } from "./src/train/run.ts";
import { DivergedError } from "./src/train/loop.ts";
import { CheckpointError } from "./src/train/checkpoint.ts";
import { AdapterFolderError } from "./src/models/adapter_folder.ts";
import { DataError } from "./src/formats/schemas.ts";
import { ModelFolderError } from "./src/formats/hf_config.ts";
import { SafetensorsError } from "./src/formats/safetensors.ts";
import config from "./deno.json" with { type: "json" };

/** Two-word names ("model init") are a command group's subcommands. */
const COMMANDS: Record<string, Command> = {
  doctor,
  demo,
  "model init": modelInit,
  "model pretrain": modelPretrain,
  "data convert": dataConvert,
  "train fac": trainFac,
  "train lin": trainLin,
  "probe lama": probeLama,
  "probe train-mlm": probeTrainMlm,
  "finetune entity-typing": finetuneEntityTyping,
  "finetune relation": finetuneRelation,
  "finetune multiple-choice": finetuneMultipleChoice,
  "finetune span-qa": finetuneSpanQa,
  "eval entity-typing": evalEntityTyping,
  "eval relation": evalRelation,
  "eval multiple-choice": evalMultipleChoice,
  "eval span-qa": evalSpanQa,
  "predict entity-typing": predictEntityTyping,
  "predict relation": predictRelation,
  "predict multiple-choice": predictMultipleChoice,
  "predict span-qa": predictSpanQa,
  encode,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return [
    `kadapter ${config.version}: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU`,
    "",
    "Usage: kadapter <command> [options]",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}${c.spec.summary}`),
    "",
    "Options:",
    "  -h, --help     show this help (kadapter <command> --help: the command's options)",
    "  -V, --version  show the version",
  ].join("\n");
}

async function main(args: string[]): Promise<number> {
  const { tokens } = parseArgs({
    args,
    options: { help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "V" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  // Options before the command are kadapter's own; everything after belongs to the command.
  const first = tokens.find((t) => t.kind === "positional");
  for (const t of tokens) {
    if (first && t.index >= first.index) break;
    if (t.kind !== "option") continue;
    if (t.name === "help" || t.name === "version") {
      console.log(t.name === "help" ? usage() : config.version);
      return 0;
    }
    throw new UsageError(`unknown option ${t.rawName}`);
  }
  if (!first) {
    console.log(usage());
    return 0;
  }
  let name = first.value, rest = args.slice(first.index + 1);
  const subcommands = Object.keys(COMMANDS).filter((n) => n.startsWith(`${name} `));
  if (subcommands.length > 0) {
    name = `${name} ${rest[0] ?? ""}`;
    rest = rest.slice(1);
    if (!COMMANDS[name]) {
      throw new UsageError(
        `"${first.value}" needs a subcommand: ${
          subcommands.map((n) => n.split(" ")[1]).join(", ")
        }`,
      );
    }
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${first.value}"`);
  const values = parseCommand(command.spec, rest);
  return values ? await command.run(values) : 0;
}

try {
  Deno.exit(await main(Deno.args));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`kadapter: ${e.message}\nRun 'kadapter --help' for usage.`);
    Deno.exit(2);
  }
  // GPU problems (no adapter, device lost, out of memory) and file errors explain
  // themselves; anything else is a bug, and its stack helps the report.
  const known = e instanceof GpuError || e instanceof Deno.errors.NotFound ||
    e instanceof Deno.errors.PermissionDenied || e instanceof SyntaxError ||
    e instanceof ModelFolderError || e instanceof SafetensorsError || e instanceof DataError ||
    e instanceof DivergedError ||
    e instanceof CheckpointError || e instanceof AdapterFolderError || e instanceof RunError ||
    e instanceof ProbeError;
  console.error(`kadapter: ${known ? (e as Error).message : (e as Error).stack ?? e}`);
  Deno.exit(1);
}

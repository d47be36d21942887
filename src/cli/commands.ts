// The command table and dispatcher: reads the command name (one or two words) and hands the
// rest to src/cli/<command>.ts. The demo is handed runCli, so it runs its stages through here,
// as a user would.
import { parseArgs } from "node:util";
import { type Command, parseCommand, UsageError, type Values } from "./options.ts";
import { didYouMean } from "./suggest.ts";
import { checkModelFolder } from "../formats/hf_folder.ts";
import { doctor } from "./doctor.ts";
import { demoCommand } from "./demo.ts";
import { encode } from "./encode.ts";
import { modelInit } from "./model.ts";
import { modelConvert } from "./model_convert.ts";
import { modelPretrain } from "./model_pretrain.ts";
import { dataConvert } from "./data.ts";
import { trainFac, trainLin } from "./train.ts";
import { probeLama, probeTrainMlm } from "./probe.ts";
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
} from "./finetune.ts";
import config from "../../deno.json" with { type: "json" };

/** Two-word names ("model init") are a command group's subcommands. */
export const COMMANDS: Record<string, Command> = {
  doctor,
  demo: demoCommand(runCli),
  "model init": modelInit,
  "model pretrain": modelPretrain,
  "model convert": modelConvert,
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
  return [
    `kadapter ${config.version}: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU`,
    "",
    "Usage: kadapter <command> [options]",
    "",
    "Commands:",
    subcommandList(Object.keys(COMMANDS)),
    "",
    "Options:",
    "  -h, --help     show this help (kadapter <command> --help: the command's options)",
    "  -V, --version  show the version",
  ].join("\n");
}

export async function runCli(args: string[]): Promise<number> {
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
    const hint = didYouMean(t.name, ["help", "version"], (n) => `--${n}`);
    throw new UsageError(`unknown option ${t.rawName}${hint}`);
  }
  if (!first) {
    console.log(usage());
    return 0;
  }
  let name = first.value, rest = args.slice(first.index + 1);
  const subcommands = Object.keys(COMMANDS).filter((n) => n.startsWith(`${name} `));
  if (subcommands.length > 0) {
    const sub = rest[0];
    if (sub === "--help" || sub === "-h") {
      console.log(groupHelp(name, subcommands));
      return 0;
    }
    if (sub === undefined || sub.startsWith("-")) {
      throw new UsageError(`"${name}" needs a subcommand:\n${subcommandList(subcommands)}`);
    }
    if (!COMMANDS[`${name} ${sub}`]) {
      const subs = subcommands.map((n) => n.split(" ")[1]);
      throw new UsageError(
        `unknown subcommand "${name} ${sub}"${didYouMean(sub, subs, (n) => `"${name} ${n}"`)}` +
          `\n"${name}" has:\n${subcommandList(subcommands)}`,
      );
    }
    name = `${name} ${sub}`;
    rest = rest.slice(1);
  }
  const command = COMMANDS[name];
  if (!command) {
    const names = new Set(Object.keys(COMMANDS).map((n) => n.split(" ")[0]));
    throw new UsageError(
      `unknown command "${first.value}"${didYouMean(first.value, names, (n) => `"${n}"`)}`,
    );
  }
  const values = parseCommand(command.spec, rest);
  if (!values) return 0;
  await checkModelFolders(command, values);
  return await command.run(values);
}

/** The model folders a command is given, checked before it starts (and the GPU with it). */
async function checkModelFolders(command: Command, values: Values): Promise<void> {
  for (const flag of ["model", "uhn-model"]) {
    const v = values[flag];
    if (command.spec.options[flag]?.arg === "DIR" && typeof v === "string" && v !== "") {
      await checkModelFolder(v, `--${flag}`);
    }
  }
}

/** Command names and their summaries, aligned. */
function subcommandList(names: string[]): string {
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].spec.summary}`).join("\n");
}

function groupHelp(group: string, names: string[]): string {
  return [
    `Usage: kadapter ${group} <subcommand> [options]`,
    "",
    "Subcommands:",
    subcommandList(names),
    "",
    `kadapter ${group} <subcommand> --help: the subcommand's options`,
  ].join("\n");
}

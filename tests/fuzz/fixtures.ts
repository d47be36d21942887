// The valid inputs the fuzz suite corrupts, made once in a temporary folder the way a user
// makes them: the bundled encoder, task data, a save_to_disk folder, released-style JSON, and,
// through kadapter's own commands, an adapter folder with its head, a training checkpoint and
// a fine-tuned model folder.
import { join } from "node:path";
import { readRows } from "../../src/formats/arrow.ts";
import { writeArrow } from "../../src/formats/arrow_write.ts";
import { runQuiet } from "./run.ts";

const DATA = new URL("../../data/", import.meta.url).pathname;

/** Where each base input is, under `root`. */
export interface Inputs {
  root: string;
  model: string;
  lines: string;
  trex: string;
  deps: string;
  relation: string;
  typing: string;
  choice: string;
  span: string;
  saved: string;
  typingJson: string;
  tacredJson: string;
  facRun: string;
  finetuned: string;
}

/** The small training run both the adapter and the checkpoint come from. */
export function facArgs(i: Inputs, out: string, extra: string[] = []): string[] {
  return [
    "train",
    "fac",
    "--model",
    i.model,
    "--train",
    i.trex,
    "--out",
    out,
    "--limit",
    "16",
    "--batch",
    "4",
    "--steps",
    "2",
    "--checkpoint-every",
    "1",
    "--adapter-size",
    "16",
    "--adapter-heads",
    "1",
    "--adapter-ffn",
    "32",
    "--adapter-layers",
    "1",
    "--adapter-mask",
    "padding",
    "--max-length",
    "32",
    ...extra,
  ];
}

/** A one-step fine-tuning run of `task` on the first 8 rows of `train`. */
export function finetuneArgs(task: string, model: string, train: string, out: string): string[] {
  return ["finetune", task, "--model", model, "--train", train, "--out", out]
    .concat(["--limit", "8", "--batch", "4", "--steps", "1", "--max-length", "64"]);
}

export async function makeInputs(): Promise<Inputs> {
  const root = await Deno.makeTempDir({ prefix: "kadapter_fuzz_" });
  const p = (name: string) => join(root, name);
  const i: Inputs = {
    root,
    model: p("model"),
    lines: p("lines.txt"),
    trex: p("trex.arrow"),
    deps: p("deps.arrow"),
    relation: p("relation.arrow"),
    typing: p("typing.arrow"),
    choice: p("choice.arrow"),
    span: p("span.arrow"),
    saved: p("saved"),
    typingJson: p("typing.json"),
    tacredJson: p("tacred.json"),
    facRun: p("facrun"),
    finetuned: p("ftrun"),
  };
  await Deno.mkdir(i.model);
  for await (const e of Deno.readDir(join(DATA, "world/encoder"))) {
    await Deno.copyFile(join(DATA, "world/encoder", e.name), join(i.model, e.name));
  }
  await Deno.writeTextFile(i.lines, "Paris is a city .\nThe company was founded in Lyon .\n");
  const copies: [string, string][] = [
    ["world/trex_dev.arrow", i.trex],
    ["deps/dev.arrow", i.deps],
    ["tasks/relation_dev.arrow", i.relation],
    ["tasks/entity_typing_dev.arrow", i.typing],
    ["tasks/multiple_choice_dev.arrow", i.choice],
    ["tasks/span_qa_dev.arrow", i.span],
  ];
  for (const [from, to] of copies) await Deno.copyFile(join(DATA, from), to);
  // A `datasets` save_to_disk folder: two stream-format shards listed in state.json.
  const rows = [];
  for await (const chunk of readRows(i.trex, "trex-rc")) rows.push(...chunk);
  await Deno.mkdir(i.saved);
  const names = ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"];
  for (const [k, name] of names.entries()) {
    await writeArrow(join(i.saved, name), "trex-rc", rows.slice(k * 12, (k + 1) * 12), {
      format: "stream",
    });
  }
  await Deno.writeTextFile(
    join(i.saved, "state.json"),
    JSON.stringify({ _data_files: names.map((filename) => ({ filename })), _split: null }),
  );
  await Deno.writeTextFile(
    i.typingJson,
    JSON.stringify([
      { sent: "Paris is a city in France .", start: 0, end: 5, labels: ["location", "city"] },
      { sent: "Ada founded Acme .", start: 12, end: 16, labels: ["organization"] },
    ]),
  );
  await Deno.writeTextFile(
    i.tacredJson,
    JSON.stringify([{
      token: ["Ada", "founded", "Acme", "."],
      subj_start: 0,
      subj_end: 0,
      obj_start: 2,
      obj_end: 2,
      relation: "org:founded_by",
    }]),
  );
  await must(facArgs(i, i.facRun));
  await must(finetuneArgs("relation", i.model, i.relation, i.finetuned));
  return i;
}

async function must(args: string[]): Promise<void> {
  const r = await runQuiet(args);
  if (r.code !== 0) throw new Error(`fuzz fixture: kadapter ${args.join(" ")}: ${r.text}`);
}

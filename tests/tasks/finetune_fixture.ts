// What the fine-tuning tests share: a tiny random encoder folder and two small random adapter
// folders (fac, lin) in a temporary root removed at exit, the default run options, and a way to
// run a command in this process as main.ts would.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu } from "../../src/gpu/device.ts";
import { writeRobertaTokenizer } from "../../src/formats/bpe_vocab.ts";
import { adapterConfig } from "../../src/models/adapter_config.ts";
import { saveAdapterFolder } from "../../src/models/adapter_folder.ts";
import { AdapterModel } from "../../src/models/kadapter.ts";
import { presetConfig } from "../../src/models/roberta_config.ts";
import { RobertaModel } from "../../src/models/roberta.ts";
import type { FinetuneOptions } from "../../src/runs/finetune.ts";
import type { Command } from "../../src/cli/options.ts";
import { parseCommand } from "../../src/cli/options.ts";

export const DATA = new URL("../../data/tasks/", import.meta.url).pathname;

export interface Fixture {
  root: string;
  modelDir: string;
  facDir: string;
  linDir: string;
}

/** The encoder (hidden 64, 2 layers) and the fac/lin adapters (32 wide, 1 layer). */
export async function finetuneFixture(prefix: string): Promise<Fixture> {
  await initGpu();
  const root = await Deno.makeTempDir({ prefix });
  const modelDir = join(root, "tiny");
  const facDir = join(root, "fac"), linDir = join(root, "lin");
  const vocab = await writeRobertaTokenizer(modelDir, { merges: 2000, maxLength: 128 });
  const m = new RobertaModel(presetConfig("tiny", vocab), 3, { lmHead: false });
  await m.save(modelDir);
  const base = { model_type: "roberta", hidden_size: 64, num_hidden_layers: 2, vocab_size: vocab };
  for (const [name, dir, seed] of [["fac", facDir, 5], ["lin", linDir, 6]] as const) {
    const ac = adapterConfig(64, 2, { adapterHidden: 32, heads: 2, intermediate: 64, layers: 1 });
    const a = new AdapterModel(ac, seed);
    await saveAdapterFolder(dir, a, { name, task: name, base, tokenization: "original" });
    a.dispose();
  }
  m.dispose();
  globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
  return { root, modelDir, facDir, linDir };
}

/** A run with no adapters, concat fusion, lr 1e-3, seed 42, quiet; `over` changes any of it. */
export function runOptions(
  task: string,
  model: string,
  data: { train: string; dev: string },
  out: string,
  over: Partial<FinetuneOptions> = {},
): FinetuneOptions {
  return {
    task,
    model,
    adapters: [],
    untrainedAdapter: false,
    fusion: "concat",
    freezeEncoder: false,
    trainAdapters: false,
    ...data,
    out,
    batch: 16,
    accumulate: 1,
    lr: 1e-3,
    epochs: 1,
    warmup: 5,
    weightDecay: 0,
    maxGradNorm: 1,
    maxLength: 64,
    tokenization: "original",
    seed: 42,
    headDropout: 0.1,
    evalBatch: 64,
    logEvery: 10,
    resume: false,
    progress: { write: () => {}, tty: false },
    say: () => {},
    ...over,
  };
}

/** Runs a command as main.ts would, in this process, with its output silenced. */
export async function cli(command: Command, args: string[]): Promise<number> {
  const values = parseCommand(command.spec, args);
  assert.ok(values);
  const log = console.log, error = console.error;
  console.log = console.error = () => {};
  try {
    return await command.run(values);
  } finally {
    console.log = log;
    console.error = error;
  }
}

// The demo's stages as the kadapter commands a user would type: the encoder (bundled, or made
// with `model init` + `model pretrain`), fac and lin infusion, fine-tuning entity typing and
// relation classification with each adapter combination, and LAMA probing with and without
// the fac adapter. Settings are sized for a tiny encoder on a 2-core CPU rasteriser.
import { join } from "node:path";

/** One command of the demo, run in its own folder. */
export interface Stage {
  id: string;
  title: string;
  /** The command line after `kadapter`. */
  args: string[];
  /** The run folder (metrics.jsonl, checkpoint/ for --resume), null for one-shot commands. */
  run: string | null;
  /** What the stage leaves when complete; a rerun skips stages whose output exists. */
  output: string;
}

/** The adapter combinations of the paper's tables, and the folder name of each run. */
export const COMBOS = [
  { name: "RoBERTa", dir: "none", adapters: [] as string[] },
  { name: "K-Adapter (F)", dir: "F", adapters: ["fac"] },
  { name: "K-Adapter (L)", dir: "L", adapters: ["lin"] },
  { name: "K-Adapter (F+L)", dir: "FL", adapters: ["fac", "lin"] },
] as const;

export const TASKS = [
  { task: "entity-typing", dir: "entity_typing", title: "entity typing" },
  { task: "relation", dir: "relation", title: "relation classification" },
] as const;

export interface PlanOptions {
  out: string;
  seed: number;
  quick: boolean;
  /** Pretrain the encoder here instead of using the bundled one. */
  pretrain: boolean;
}

/** Where the bundled inputs are written (src/demo/bundled.ts). */
export const inputsDir = (out: string) => join(out, "inputs");

/** The bundled encoder's recipe (data/make_encoder.ts), also the demo's --pretrain stages. */
export function encoderStages(inputs: string, out: string, seed: number): Stage[] {
  const world = join(inputs, "world");
  const tiny = join(out, "tiny"), pre = join(out, "pretrain");
  return [{
    id: "init",
    title: "a tiny RoBERTa whose tokenizer keeps the world's names whole",
    args: ["model", "init", "--preset", "tiny", "--words", join(world, "words.txt")]
      .concat(["--out", tiny, "--seed", String(seed)]),
    run: null,
    output: join(tiny, "config.json"),
  }, {
    id: "pretrain",
    title: "masked-LM pretraining on text that names the entities but states no fact",
    args: ["model", "pretrain", "--model", tiny, "--corpus", join(world, "corpus.arrow")]
      .concat(["--dev", join(world, "corpus.arrow"), "--out", pre, "--steps", "1000"])
      .concat(["--batch", "32", "--lr", "5e-3", "--warmup", "50", "--eval-every", "250"])
      .concat(["--seed", String(seed + 1)]),
    run: pre,
    output: join(pre, "model", "model.safetensors"),
  }];
}

/** The folder of the encoder every later stage uses. */
export function encoderDir(o: PlanOptions): string {
  return o.pretrain ? join(o.out, "pretrain", "model") : join(inputsDir(o.out), "encoder");
}

// Padding masked: the released layout (every example padded to the max length, read by the
// adapter) would multiply the work on the demo's short sentences several times over.
const ADAPTER = ["--adapter-size", "64", "--adapter-heads", "4", "--adapter-ffn", "128"]
  .concat(["--adapter-layers", "1", "--adapter-mask", "padding"]);

// The full stages see each example 1.6 times: the frozen encoder's states are computed once
// (f32: losses within 1e-6 of the uncached run's, fac 1.3x faster). --quick's 40 steps are
// under an epoch, where the cache costs more than it saves.
const CACHE = ["--cache-features", "memory", "--cache-dtype", "f32"];

export function demoStages(o: PlanOptions): Stage[] {
  const inputs = inputsDir(o.out), world = join(inputs, "world");
  const encoder = encoderDir(o), seed = String(o.seed);
  const steps = (full: number, quick: number) => String(o.quick ? quick : full);
  const stages = o.pretrain ? encoderStages(inputs, o.out, o.seed) : [];

  const infusion = (task: "fac" | "lin", train: string, dev: string): Stage => {
    const run = join(o.out, task);
    return {
      id: task,
      title: task === "fac"
        ? "factual adapter: relation classification on sentences stating the world's facts"
        : "linguistic adapter: dependency-head prediction on parsed sentences",
      args: ["train", task, "--model", encoder, "--train", train, "--dev", dev, "--out", run]
        .concat(ADAPTER, ["--batch", "32", "--lr", "3e-3", "--steps", steps(150, 40)])
        .concat(["--warmup", steps(15, 4), "--eval-every", steps(50, 20), "--seed", seed])
        .concat(o.quick ? [] : CACHE),
      run,
      output: join(run, "adapter", "adapter.safetensors"),
    };
  };
  stages.push(
    infusion("fac", join(world, "trex_train.arrow"), join(world, "trex_dev.arrow")),
    infusion("lin", join(inputs, "deps", "train.arrow"), join(inputs, "deps", "dev.arrow")),
  );

  for (const t of TASKS) {
    for (const c of COMBOS) {
      const run = join(o.out, t.dir, c.dir);
      const adapters = c.adapters.map((a) => `${a}=${join(o.out, a, "adapter")}`);
      const data = (split: string) => join(inputs, "tasks", `${t.dir}_${split}.arrow`);
      stages.push({
        id: `${t.dir}/${c.dir}`,
        title: `${t.title} fine-tuning, ${c.name}`,
        args: ["finetune", t.task, "--model", encoder]
          .concat(adapters.length ? ["--adapters", adapters.join(",")] : [])
          .concat(["--train", data("train"), "--dev", data("dev"), "--out", run])
          .concat(["--batch", "16", "--lr", "1e-3", "--steps", steps(80, 30)])
          .concat(["--warmup", steps(8, 3), "--eval-every", steps(20, 15)])
          .concat(["--max-length", "64", "--seed", seed]),
        run,
        output: join(run, "model", "finetune_config.json"),
      });
    }
  }

  // Each probed model gets a new linear masked-LM layer trained the same way on the same
  // fact-free corpus; the encoder alone (k = 0) is the baseline.
  const lama = join(o.out, "probe", "lama.arrow");
  stages.push({
    id: "lama-data",
    title: "LAMA queries from the world's facts and relation templates",
    // --overwrite: a stage reruns only when it did not finish, so what it left goes.
    args: ["data", "convert", "--format", "lama-trex", "--input", join(world, "facts.jsonl")]
      .concat(["--relations", join(world, "relations.jsonl"), "--out", lama, "--overwrite"]),
    run: null,
    output: lama,
  });
  for (const withFac of [false, true]) {
    const run = join(o.out, withFac ? "mlm_fac" : "mlm_encoder");
    stages.push({
      id: withFac ? "mlm-fac" : "mlm-encoder",
      title: `probe MLM layer over ${withFac ? "cat(encoder, fac adapter)" : "the encoder alone"}`,
      args: ["probe", "train-mlm", "--model", encoder]
        .concat(withFac ? ["--adapters", `fac=${join(o.out, "fac", "adapter")}`] : [])
        .concat(["--corpus", join(world, "corpus.arrow"), "--out", run])
        .concat(["--steps", steps(200, 40), "--batch", "32", "--lr", "5e-3", "--seed", seed]),
      run,
      output: join(run, "mlm", "mlm.safetensors"),
    });
  }
  for (const withFac of [false, true]) {
    const out = join(o.out, "probe", withFac ? "fac" : "encoder");
    stages.push({
      id: withFac ? "probe-fac" : "probe-encoder",
      title: `LAMA probe of ${withFac ? "encoder + fac adapter" : "the encoder alone"}`,
      args: ["probe", "lama", "--model", encoder]
        .concat(withFac ? ["--adapters", `fac=${join(o.out, "fac", "adapter")}`] : [])
        .concat(["--mlm", join(o.out, withFac ? "mlm_fac" : "mlm_encoder", "mlm")])
        .concat(["--data", lama, "--common-vocab", join(world, "words.txt"), "--out", out])
        .concat(["--overwrite"]),
      run: null,
      output: join(out, "results.json"),
    });
  }
  return stages;
}

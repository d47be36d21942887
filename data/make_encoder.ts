// Regenerates data/world/encoder/: the demo's tiny encoder, a `model init --preset tiny` RoBERTa
// (the world's one-word names as single tokens) masked-LM pretrained on data/world/corpus.arrow,
// which names every entity but states no fact. The commands are the demo's --pretrain stages
// (src/demo/plan.ts); pretrain_metrics.jsonl keeps the run's log for the demo's report.
// About 3 minutes on a 2-core machine with software WebGPU.
//
//   deno run --allow-read --allow-write --allow-env data/make_encoder.ts
import { join } from "node:path";
import { runCli } from "../src/cli/commands.ts";
import { encoderStages } from "../src/demo/plan.ts";

const DATA = import.meta.dirname!;
const OUT = join(DATA, "world", "encoder");
const work = await Deno.makeTempDir({ prefix: "kadapter_encoder_" });
try {
  for (const stage of encoderStages(DATA, work, 0)) {
    console.log(`$ kadapter ${stage.args.join(" ")}`);
    const code = await runCli(stage.args);
    if (code !== 0) throw new Error(`stage ${stage.id} exited with ${code}`);
  }
  await Deno.remove(OUT, { recursive: true }).catch(() => {});
  await Deno.mkdir(OUT, { recursive: true });
  const model = join(work, "pretrain", "model");
  for await (const f of Deno.readDir(model)) {
    await Deno.copyFile(join(model, f.name), join(OUT, f.name));
  }
  await Deno.copyFile(join(work, "pretrain", "metrics.jsonl"), join(OUT, "pretrain_metrics.jsonl"));
  console.log(`wrote ${OUT}`);
} finally {
  await Deno.remove(work, { recursive: true });
}

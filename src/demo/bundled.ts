// The demo's inputs, imported as bytes and text so that they live in the program (and in the
// compiled binary): the demo writes them to OUT/inputs/ and never reads the source tree. Made by
// data/make_world.ts, make_deps.ts, make_tasks.ts and make_encoder.ts (see data/README.md).
import { dirname, join } from "node:path";
import trexTrain from "../../data/world/trex_train.arrow" with { type: "bytes" };
import trexDev from "../../data/world/trex_dev.arrow" with { type: "bytes" };
import corpus from "../../data/world/corpus.arrow" with { type: "bytes" };
import facts from "../../data/world/facts.jsonl" with { type: "text" };
import relations from "../../data/world/relations.jsonl" with { type: "text" };
import words from "../../data/world/words.txt" with { type: "text" };
import depsTrain from "../../data/deps/train.arrow" with { type: "bytes" };
import depsDev from "../../data/deps/dev.arrow" with { type: "bytes" };
import typingTrain from "../../data/tasks/entity_typing_train.arrow" with { type: "bytes" };
import typingDev from "../../data/tasks/entity_typing_dev.arrow" with { type: "bytes" };
import relationTrain from "../../data/tasks/relation_train.arrow" with { type: "bytes" };
import relationDev from "../../data/tasks/relation_dev.arrow" with { type: "bytes" };
import encoderConfig from "../../data/world/encoder/config.json" with { type: "text" };
import encoderWeights from "../../data/world/encoder/model.safetensors" with { type: "bytes" };
import tokenizer from "../../data/world/encoder/tokenizer.json" with { type: "text" };
import tokenizerConfig from "../../data/world/encoder/tokenizer_config.json" with {
  type: "text",
};
import encoderLog from "../../data/world/encoder/pretrain_metrics.jsonl" with { type: "text" };

const FILES: Record<string, Uint8Array | string> = {
  "world/trex_train.arrow": trexTrain,
  "world/trex_dev.arrow": trexDev,
  "world/corpus.arrow": corpus,
  "world/facts.jsonl": facts,
  "world/relations.jsonl": relations,
  "world/words.txt": words,
  "deps/train.arrow": depsTrain,
  "deps/dev.arrow": depsDev,
  "tasks/entity_typing_train.arrow": typingTrain,
  "tasks/entity_typing_dev.arrow": typingDev,
  "tasks/relation_train.arrow": relationTrain,
  "tasks/relation_dev.arrow": relationDev,
  "encoder/config.json": encoderConfig,
  "encoder/model.safetensors": encoderWeights,
  "encoder/tokenizer.json": tokenizer,
  "encoder/tokenizer_config.json": tokenizerConfig,
  // The bundled encoder's pretraining log (data/make_encoder.ts), for the report's curves.
  "encoder_pretraining/metrics.jsonl": encoderLog,
};

/** Writes every bundled file under `dir` (replacing what is there: they are inputs, not work). */
export async function writeBundled(dir: string): Promise<void> {
  for (const [name, content] of Object.entries(FILES)) {
    const path = join(dir, name);
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
  }
}

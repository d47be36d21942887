// kadapter model init: a complete model folder with seeded random weights
// (src/runs/model_init.ts), so that tests and demos have RoBERTa models without a network.
import { initGpu } from "../gpu/device.ts";
import { type Preset, PRESETS } from "../models/roberta_config.ts";
import { initModel } from "../runs/model_init.ts";
import {
  type Command,
  numberOption,
  optionalNumber,
  requiredOption,
  UsageError,
} from "./options.ts";

/** Refuses an existing DIR unless it is an empty folder (which is then replaced). */
export async function checkOut(out: string): Promise<void> {
  try {
    for await (const _ of Deno.readDir(out)) {
      throw new UsageError(`--out ${out} exists and is not empty; remove it or pick another`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (e instanceof Deno.errors.NotADirectory) {
      throw new UsageError(`--out ${out} exists and is not a folder`);
    }
    throw e;
  }
}

/** Non-blank lines of a word list; each must be one pre-token (letters or digits). */
async function readWords(path: string): Promise<string[]> {
  const lines = (await Deno.readTextFile(path)).split(/\r?\n/).map((w) => w.trim());
  const bad = lines.findIndex((w) => w !== "" && !/^[\p{L}\p{N}]+$/u.test(w));
  if (bad >= 0) {
    throw new UsageError(
      `--words ${path}, line ${bad + 1}: '${lines[bad]}' is not one word of letters or digits`,
    );
  }
  return lines.filter((w) => w !== "");
}

export const modelInit: Command = {
  spec: {
    name: "model init",
    summary: "write a new RoBERTa model folder with seeded random weights and a tokenizer",
    options: {
      preset: {
        type: "string",
        arg: "NAME",
        help: "tiny (hidden 64, 2 layers), base or large (roberta-base's / -large's sizes)",
      },
      out: { type: "string", arg: "DIR", help: "the folder to create (absent or empty)" },
      seed: { type: "string", arg: "N", default: "0", help: "seed of the weights" },
      merges: {
        type: "string",
        arg: "K",
        help: "BPE merges the tokenizer keeps; vocabulary = K + 261 (default: tiny 2000, " +
          "base and large all 50000, vocabulary 50265)",
      },
      words: {
        type: "string",
        arg: "FILE",
        help: "words (one per line, letters/digits) made single tokens, bare and after a space " +
          "(e.g. data/world/words.txt, so LAMA can probe the world's objects)",
      },
    },
    details: "Writes config.json (RobertaForMaskedLM), model.safetensors (encoder under " +
      '"roberta.", lm_head; normal(0, 0.02) weights, zero biases, LayerNorm 1 and 0), ' +
      "tokenizer.json and tokenizer_config.json (GPT-2's byte-level BPE with RoBERTa's special " +
      "tokens; ids other than the specials differ from the real roberta-base's). large " +
      "writes 1.4 GB.",
  },
  async run(values) {
    const preset = requiredOption(values, "preset");
    if (!Object.hasOwn(PRESETS, preset)) {
      throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(", ")}`);
    }
    const out = requiredOption(values, "out");
    const seed = numberOption(values, "seed", { min: 0, max: 2 ** 32 - 1 });
    const merges = optionalNumber(values, "merges", { max: 50000 });
    const words = typeof values.words === "string" ? await readWords(values.words) : [];
    await checkOut(out);
    await initGpu();
    await initModel({ preset: preset as Preset, out, seed, merges, words });
    return 0;
  },
};

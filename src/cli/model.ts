// kadapter model init: a complete model folder with seeded random weights, so that tests and
// demos have RoBERTa models without a network. The folder is built beside DIR and renamed into
// place at the end, so DIR never holds half a model.
import { basename, dirname, join } from "node:path";
import { fmtBytes, initGpu } from "../gpu/device.ts";
import { writeRobertaTokenizer } from "../formats/bpe_vocab.ts";
import { RobertaModel } from "../models/roberta.ts";
import { type Preset, presetConfig, PRESETS } from "../models/roberta_config.ts";
import { Progress } from "../train/progress.ts";
import { type Command, numberOption, requiredOption, UsageError } from "./options.ts";

const MiB = 2 ** 20;

/** Refuses an existing DIR unless it is an empty folder (which is then replaced). */
async function checkOut(out: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(out)) {
      throw new UsageError(`--out ${out} exists and is not empty; remove it or pick another`);
    }
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
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
    const p = PRESETS[preset as Preset];
    const out = requiredOption(values, "out");
    const seed = numberOption(values, "seed", { min: 0, max: 2 ** 32 - 1 });
    const merges = values.merges === undefined
      ? p.merges
      : numberOption(values, "merges", { max: 50000 });
    const words = typeof values.words === "string" ? await readWords(values.words) : [];
    const replace = await checkOut(out);
    await initGpu();
    const tmp = join(dirname(out), `.${basename(out)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
    try {
      const vocab = await writeRobertaTokenizer(tmp, {
        merges,
        maxLength: p.maxPositions - 2,
        words,
      });
      const model = new RobertaModel(presetConfig(preset as Preset, vocab), seed, { lmHead: true });
      const count = model.parameterCount(), bytes = count * 4;
      console.log(
        `${preset}: ${count.toLocaleString("en-US")} parameters, vocabulary ${vocab}, ` +
          `${p.layers} layers of ${p.hidden}`,
      );
      const bar = new Progress(Math.ceil(bytes / MiB), { label: "writing MiB" });
      let written = 0;
      try {
        await model.save(tmp, (_, n) => {
          const before = Math.floor(written / MiB);
          written += n;
          if (Math.floor(written / MiB) > before) bar.tick(Math.floor(written / MiB) - before);
        });
        bar.tick(bar.total);
      } finally {
        bar.finish();
        model.dispose();
      }
      if (replace) await Deno.remove(out);
      await Deno.rename(tmp, out);
      console.log(`wrote ${out} (${fmtBytes(bytes)} of weights, seed ${seed})`);
      return 0;
    } catch (e) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw e;
    }
  },
};

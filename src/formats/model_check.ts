// config.json against the weights it came with, before anything is allocated: a config that
// declares fewer encoder layers than the weights hold would silently drop the others, and one
// whose vocab_size disagrees with the word table is another model's.
import { basename } from "node:path";
import { ModelFolderError, type RobertaConfig } from "./hf_config.ts";

const LAYER = /^(?:roberta\.)?encoder\.layer\.(\d+)\./;
const WORDS = /^(?:roberta\.)?embeddings\.word_embeddings\.weight$/;
const FIX = "the config is not this model's: use the config.json that came with the weights";

/** Throws a ModelFolderError (at `where`, config.json) when `config` does not fit `tensors`. */
export function checkConfigFits(
  config: RobertaConfig,
  where: string,
  tensors: ReadonlyMap<string, { file: { path: string }; info: { shape: readonly number[] } }>,
): void {
  let layers = 0, file = "", problems: string[] = [];
  for (const [name, { file: f, info }] of tensors) {
    const m = LAYER.exec(name);
    if (m && Number(m[1]) + 1 > layers) {
      layers = Number(m[1]) + 1;
      file = basename(f.path);
    }
    if (WORDS.test(name) && info.shape.length === 2 && info.shape[0] !== config.vocab_size) {
      problems.push(
        `vocab_size is ${config.vocab_size}, but ${basename(f.path)}'s ${name} holds ` +
          `${info.shape[0]} rows: ${FIX}`,
      );
    }
  }
  if (layers > config.num_hidden_layers) {
    const n = config.num_hidden_layers;
    problems = [
      `config.json says ${n} layer${n === 1 ? "" : "s"} (num_hidden_layers), ${file} holds ` +
      `${layers}: ${FIX}`,
      ...problems,
    ];
  }
  if (problems.length > 0) throw new ModelFolderError(where, problems);
}

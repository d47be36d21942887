// The checks that what a run pairs with a model fits it: a maximum length within its
// positions, a tokenizer with its padding id and no id past its vocabulary. One place, so every
// command refuses the same mismatch with the same words.
import { UserError } from "../errors.ts";
import { maxSequence, type RobertaDims } from "./roberta_config.ts";

export class ModelFitError extends UserError {}

/** `maxLength` must fit the model's positions (RoBERTa's start after the padding id). */
export function checkMaxLength(maxLength: number, d: RobertaDims): void {
  if (maxLength > maxSequence(d)) {
    throw new ModelFitError(
      `max length ${maxLength} exceeds the model's ${maxSequence(d)} positions; pass a ` +
        `smaller --max-length`,
    );
  }
}

/** The tokenizer must pad with the model's id and produce no id past its vocabulary. */
export function checkTokenizer(
  tok: { padId: number; vocabSize: number },
  d: RobertaDims,
  where: string,
): void {
  if (tok.padId !== d.padId) {
    throw new ModelFitError(
      `${where}: the tokenizer pads with id ${tok.padId}, config.json's pad_token_id is ` +
        `${d.padId}`,
    );
  }
  if (tok.vocabSize > d.vocab) {
    throw new ModelFitError(
      `${where}: the tokenizer has ${tok.vocabSize} ids, the model's vocabulary ${d.vocab}`,
    );
  }
}

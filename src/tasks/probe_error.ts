// The probing area's one error: lama_probe, the MLM layer's folder and runner, and the
// `probe lama` run all throw it, so none of them imports another for it.
import { UserError } from "../errors.ts";

/**
 * A probe or an MLM layer run that cannot go as asked (no usable query, mismatched tokenizer,
 * an MLM folder for other adapters); the message says why.
 */
export class ProbeError extends UserError {}

// The frozen encoder: a RobertaModel that is only ever run forward (RobertaModel.hiddenStates:
// no tape, no dropout, only the hidden states asked for kept), in f32 or f16. In f16 the
// embedding tables and every linear weight and bias are f16 (LayerNorm parameters stay f32;
// layer norm and softmax accumulate in f32 either way): a folder loads straight into f16, so no
// f32 copy is ever on the GPU. This object owns its model unless it shares a caller's.
import type { RobertaConfig } from "../formats/hf_config.ts";
import { noGrad, type Tensor } from "../tensor/mod.ts";
import { type ComputeType, RobertaModel } from "./roberta.ts";
import type { RobertaDims } from "./roberta_config.ts";
import type { EncoderInput } from "./roberta_inputs.ts";

export interface FrozenOptions {
  /** Compute in f16 (needs shader-f16). */
  f16?: boolean;
  /** Load the masked-LM head (default: when the folder has it). */
  lmHead?: boolean;
  /** Rows per piece of the word-embedding table (default: what one storage binding holds). */
  tableRows?: number;
  /** Load NaN/Inf weights with a warning instead of refusing them (--allow-nonfinite). */
  allowNonFinite?: boolean;
}

export class FrozenRoberta {
  readonly config: RobertaConfig;
  readonly dims: RobertaDims;
  readonly dtype: ComputeType;
  /** Whether dispose() frees the model (false when it is a caller's f32 model, shared). */
  readonly #owned: boolean;

  private constructor(readonly model: RobertaModel, owned: boolean) {
    this.config = model.config;
    this.dims = model.dims;
    this.dtype = model.dtype;
    this.#owned = owned;
  }

  /** Loads a model folder straight into the compute type. */
  static async fromFolder(dir: string, opts: FrozenOptions = {}): Promise<FrozenRoberta> {
    const { f16, lmHead, tableRows: rowsPerPiece, allowNonFinite } = opts;
    const model = await RobertaModel.load(dir, { f16, lmHead, rowsPerPiece, allowNonFinite });
    return new FrozenRoberta(model, true);
  }

  /** The model's current weights: cast once when f16 is asked of an f32 model, else shared. */
  static fromModel(model: RobertaModel, opts: { f16?: boolean } = {}): FrozenRoberta {
    return opts.f16 && model.dtype === "f32"
      ? new FrozenRoberta(model.castToF16(), true)
      : new FrozenRoberta(model, false);
  }

  /** RobertaModel.hiddenStates: the states listed in `keep`, in the compute type. */
  hiddenStates(input: EncoderInput, opts: { keep?: number[] | "all" } = {}): Tensor[] {
    return this.model.hiddenStates(input, opts);
  }

  /** Masked-LM logits [..., vocab] (in the compute type) from a last hidden state. */
  mlmLogits(h: Tensor): Tensor {
    return noGrad(() => this.model.mlmLogits(h));
  }

  /** Frees the weights this object owns (a shared RobertaModel's stay). */
  dispose(): void {
    if (this.#owned) this.model.dispose();
  }
}

// What RoBERTa's forward takes: token ids and the attention mask of a padded batch (as the
// tokenizer's Batch holds them), turned into GPU tensors. Position ids are computed here on
// the CPU from the ids, as transformers' create_position_ids_from_input_ids does.
import { additiveMask } from "../nn/attention.ts";
import { Tensor } from "../tensor/mod.ts";

export interface EncoderInput {
  /** [batch, seqLen] row-major token ids. */
  inputIds: ArrayLike<number>;
  /** [batch, seqLen]: 1 for tokens, 0 for padding. */
  attentionMask: ArrayLike<number>;
  batch: number;
  seqLen: number;
  /**
   * "pad" (default): padding gets position pad, as transformers does. "continue": every slot
   * s gets pad + 1 + s, padding included, as the released code's pytorch_transformers 1.x
   * RobertaEmbeddings numbers them (released_layout.ts).
   */
  padPositions?: "pad" | "continue";
}

/**
 * pos = cumsum(ids != pad) * (ids != pad) + pad: tokens count from pad + 1, pads get pad; or,
 * with padPositions "continue", pad + 1 + s at every slot s.
 */
export function positionIds(input: EncoderInput, padId: number): Int32Array {
  const { inputIds: ids, batch, seqLen } = input;
  const pos = new Int32Array(batch * seqLen);
  const carryOn = input.padPositions === "continue";
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let s = 0; s < seqLen; s++) {
      const i = b * seqLen + s;
      pos[i] = carryOn ? padId + 1 + s : ids[i] === padId ? padId : padId + ++count;
    }
  }
  return pos;
}

export interface InputTensors {
  /** i32 [batch, seq] */
  ids: Tensor;
  /** i32 [batch, seq] */
  positions: Tensor;
  /** f32 [batch, 1, 1, seq], additive (see nn/attention.ts MASK_VALUE). */
  mask: Tensor;
}

/** Checks the input against the model's sizes and uploads it. */
export function inputTensors(
  input: EncoderInput,
  d: { vocab: number; maxPositions: number; padId: number },
): InputTensors {
  const { batch, seqLen, inputIds } = input;
  const n = batch * seqLen;
  if (inputIds.length !== n || input.attentionMask.length !== n) {
    throw new Error(
      `input of ${inputIds.length} ids and ${input.attentionMask.length} mask values is not ` +
        `[${batch}, ${seqLen}]`,
    );
  }
  const positions = positionIds(input, d.padId);
  for (let i = 0; i < n; i++) {
    if (!(inputIds[i] >= 0 && inputIds[i] < d.vocab)) {
      throw new Error(`token id ${inputIds[i]} is outside the vocabulary (${d.vocab})`);
    }
    if (positions[i] >= d.maxPositions) {
      throw new Error(
        `a sequence of ${positions[i] - d.padId} tokens exceeds the model's ` +
          `${d.maxPositions - d.padId - 1} positions`,
      );
    }
  }
  return {
    ids: Tensor.from(inputIds, [batch, seqLen], "i32"),
    positions: Tensor.from(positions, [batch, seqLen], "i32"),
    mask: maskTensor(input),
  };
}

/** The batch's additive attention mask [batch, 1, 1, seqLen] (0 at tokens, -1e9 at padding). */
export function maskTensor(input: EncoderInput): Tensor {
  const { attentionMask, batch, seqLen } = input;
  return Tensor.from(additiveMask(attentionMask, batch, seqLen), [batch, 1, 1, seqLen]);
}

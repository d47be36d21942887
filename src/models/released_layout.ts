// The released code's batch layout, which adapters with mask "all" need. The released scripts
// pad every example to max_seq_length, number every slot (padding included) from pad + 1
// (pytorch_transformers 1.x), and the adapter's inner attention reads all of them. So such an
// adapter's output at a real token depends on the padding it sees: laid out as a batch's
// longest row, it would change with the batch (and differ from the released code's). The
// encoder and the adapters therefore run on this layout, and their outputs are cut back to
// the batch's length, which every head reads (padding there is masked or never read).
import type { AdapterModel } from "./kadapter.ts";
import type { EncoderInput } from "./roberta_inputs.ts";
import { slice, type Tensor } from "../tensor/mod.ts";

/** Whether any of the adapters reads padded positions (adapter_mask "all"). */
export function readsPadding(adapters: Iterable<AdapterModel>): boolean {
  return [...adapters].some((a) => a.config.mask === "all");
}

/** The batch padded to `length` with pad ids and mask 0, positions numbered at every slot. */
export function releasedLayout(input: EncoderInput, length: number, padId: number): EncoderInput {
  const { batch, seqLen } = input;
  if (seqLen > length) {
    throw new Error(`a batch of ${seqLen} tokens is longer than the padded length ${length}`);
  }
  const inputIds = new Int32Array(batch * length).fill(padId);
  const attentionMask = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seqLen; s++) {
      inputIds[b * length + s] = input.inputIds[b * seqLen + s];
      attentionMask[b * length + s] = input.attentionMask[b * seqLen + s];
    }
  }
  return { inputIds, attentionMask, batch, seqLen: length, padPositions: "continue" };
}

/**
 * run(input) on the released layout of `length` when an adapter reads padding (its outputs,
 * each [batch, length, ...], cut back to the batch's own length); otherwise run(input).
 */
export function onReleasedLayout(
  input: EncoderInput,
  adapters: Iterable<AdapterModel>,
  layout: { length: number; padId: number },
  run: (input: EncoderInput) => Tensor[],
): Tensor[] {
  if (!readsPadding(adapters)) return run(input);
  const out = run(releasedLayout(input, layout.length, layout.padId));
  return input.seqLen === layout.length ? out : out.map((t) => slice(t, 1, 0, input.seqLen));
}

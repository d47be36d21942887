// kadapter encode: feature extraction (src/runs/encode.ts) from the command line.
import { initGpu } from "../gpu/device.ts";
import { encodeLines } from "../runs/encode.ts";
import { allowNonFinite, allowNonFiniteFlag } from "./nonfinite_flag.ts";
import {
  type Command,
  forceFlag,
  numberOption,
  optionalNumber,
  overwriteFlag,
  parseAdapters,
  refuseOverwrite,
  requiredOption,
} from "./options.ts";

export const encode: Command = {
  spec: {
    name: "encode",
    summary: "run text lines through a model; write every hidden state to a safetensors file",
    options: {
      model: {
        type: "string",
        arg: "DIR",
        help: "a model folder (config.json, weights, tokenizer)",
      },
      input: {
        type: "string",
        arg: "FILE",
        help: "text, one example per line",
        aliases: ["in"],
      },
      out: { type: "string", arg: "FILE", help: "the safetensors file to write" },
      ...overwriteFlag,
      "max-length": {
        type: "string",
        arg: "N",
        help: "truncate examples to N tokens with <s> and </s> (default: the model's limit)",
      },
      batch: { type: "string", arg: "N", default: "16", help: "examples per forward pass" },
      f16: { type: "boolean", help: "compute in f16 (needs shader-f16; outputs are still F32)" },
      adapters: {
        type: "string",
        arg: "NAME=DIR,...",
        help: "also run these adapter folders on the encoder's states (tensors adapter.NAME)",
      },
      ...forceFlag,
      ...allowNonFiniteFlag,
    },
    details: "Blank lines are skipped. The file holds, for N examples padded to the longest " +
      "(T tokens): input_ids and attention_mask [N, T] I64 (as transformers' tokenizers " +
      "return them), line_numbers [N] I64 (1-based lines of the input), and hidden_states.0 " +
      "(embeddings) ... hidden_states.L (layer L) [N, T, hidden] F32, zero at padding. " +
      "With --adapters, each adapter model's output (its last adapter layer, fed the hidden " +
      "states of its adapter_list) is adapter.NAME [N, T, hidden] F32, zero at padding, and " +
      'the metadata\'s "adapters" is the JSON object {NAME: DIR}. An adapter must have been ' +
      "trained on an encoder of this size and vocabulary and, named fac or lin, be of that " +
      "kind (--force: another vocabulary or kind, with a warning). With adapter_mask " +
      '"all" (the released code\'s) its attention also reads padded positions: every line ' +
      "is then padded to --max-length as the released code pads (padding numbered as " +
      "positions too), so a line's outputs do not depend on its batch.",
  },
  async run(values) {
    const o = {
      model: requiredOption(values, "model"),
      input: requiredOption(values, "input"),
      out: requiredOption(values, "out"),
      batchSize: numberOption(values, "batch", { min: 1, max: 65536 }),
      maxLength: optionalNumber(values, "max-length", { min: 2 }),
      f16: values.f16 === true,
      adapters: parseAdapters(values),
      force: values.force === true,
      allowNonFinite: allowNonFinite(values),
    };
    await refuseOverwrite(values, [o.out], `--out ${o.out}`);
    await initGpu();
    await encodeLines(o);
    return 0;
  },
};

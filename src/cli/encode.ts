// kadapter encode: feature extraction. Text lines through the tokenizer and the frozen
// encoder (forward-only path) into one safetensors file holding every hidden state.
import { fmtBytes, initGpu } from "../gpu/device.ts";
import { type SafetensorsEntry, writeSafetensors } from "../formats/safetensors.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { AdapterFolderError, loadAdapter } from "../models/adapter_folder.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { maskTensor } from "../models/roberta_inputs.ts";
import { cast, noGrad, tidy } from "../tensor/mod.ts";
import { Progress } from "../train/progress.ts";
import { type Command, numberOption, requiredOption, UsageError, type Values } from "./options.ts";

const ADAPTER_NAME = /^[A-Za-z0-9_.-]+$/;

/** --adapters NAME=DIR,NAME=DIR,...: checked before anything is loaded; [] without the flag. */
export function parseAdapters(values: Values): { name: string; dir: string }[] {
  const raw = values.adapters;
  if (raw === undefined) return [];
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new UsageError("--adapters needs NAME=DIR[,NAME=DIR...]");
  }
  const seen = new Set<string>();
  return raw.split(",").map((item) => {
    const eq = item.indexOf("=");
    const name = eq < 0 ? "" : item.slice(0, eq), dir = eq < 0 ? "" : item.slice(eq + 1);
    if (eq < 0 || dir === "") {
      throw new UsageError(`--adapters: "${item}" is not NAME=DIR`);
    }
    if (!ADAPTER_NAME.test(name)) {
      throw new UsageError(
        `--adapters: "${item}": the name must be letters, digits, '_', '.' or '-'`,
      );
    }
    if (seen.has(name)) throw new UsageError(`--adapters: the name "${name}" is given twice`);
    seen.add(name);
    return { name, dir };
  });
}

/** The non-blank lines of a file, with their 1-based line numbers. */
async function readLines(path: string): Promise<{ line: number; text: string }[]> {
  const lines = (await Deno.readTextFile(path)).split(/\r?\n/);
  const out = lines.map((text, i) => ({ line: i + 1, text })).filter((l) => l.text.trim() !== "");
  if (out.length === 0) {
    throw new Error(`${path}: no text to encode (one example per line; blank lines are skipped)`);
  }
  return out;
}

const int64 = (name: string, shape: number[], v: ArrayLike<number>): SafetensorsEntry => ({
  name,
  dtype: "I64",
  shape,
  data: BigInt64Array.from(Array.from(v, BigInt)),
});

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
      input: { type: "string", arg: "FILE", help: "text, one example per line" },
      out: { type: "string", arg: "FILE", help: "the safetensors file to write" },
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
    },
    details: "Blank lines are skipped. The file holds, for N examples padded to the longest " +
      "(T tokens): input_ids and attention_mask [N, T] I64 (as transformers' tokenizers " +
      "return them), line_numbers [N] I64 (1-based lines of the input), and hidden_states.0 " +
      "(embeddings) ... hidden_states.L (layer L) [N, T, hidden] F32, zero at padding. " +
      "With --adapters, each adapter model's output (its last adapter layer, fed the hidden " +
      "states of its adapter_list) is adapter.NAME [N, T, hidden] F32, zero at padding, and " +
      'the metadata\'s "adapters" is the JSON object {NAME: DIR}. An adapter must have been ' +
      'trained on an encoder of this size. With adapter_mask "all" (the released code\'s) ' +
      "its attention also reads padded positions, so its outputs depend on the batch's " +
      "padding, as in training.",
  },
  async run(values) {
    const modelDir = requiredOption(values, "model");
    const input = requiredOption(values, "input");
    const out = requiredOption(values, "out");
    const batchSize = numberOption(values, "batch", { min: 1, max: 65536 });
    const adapterArgs = parseAdapters(values);
    const examples = await readLines(input);
    await initGpu();
    const model = await FrozenRoberta.fromFolder(modelDir, {
      f16: values.f16 === true,
      lmHead: false,
    });
    const adapters: { name: string; dir: string; model: AdapterModel }[] = [];
    try {
      const d = model.dims;
      for (const { name, dir } of adapterArgs) {
        try {
          const { adapter } = await loadAdapter(dir, { hidden: d.hidden, layers: d.layers });
          adapters.push({ name, dir, model: adapter });
        } catch (e) {
          if (!(e instanceof AdapterFolderError)) throw e;
          throw new AdapterFolderError(
            e.where,
            e.problems.map((p) => `${p} (--adapters ${name}, encoder ${modelDir})`),
          );
        }
      }
      const tokenizer = await RobertaTokenizer.fromFolder(modelDir);
      if (tokenizer.padId !== d.padId) {
        throw new Error(
          `${modelDir}: the tokenizer pads with id ${tokenizer.padId}, config.json's ` +
            `pad_token_id is ${d.padId}`,
        );
      }
      const limit = maxSequence(d);
      const maxLength = values["max-length"] === undefined
        ? Math.min(limit, tokenizer.modelMaxLength ?? limit)
        : numberOption(values, "max-length", { min: 2, max: limit });
      const seqs = examples.map((e) => tokenizer.encode(e.text, { maxLength }));
      const cut = seqs.filter((s) => s.truncated > 0).length;
      const n = seqs.length, T = Math.max(...seqs.map((s) => s.ids.length)), H = d.hidden;
      const hidden = Array.from({ length: d.layers + 1 }, () => new Float32Array(n * T * H));
      const adapterOut = adapters.map(() => new Float32Array(n * T * H));
      const outputs = hidden.length + adapterOut.length;
      console.log(
        `${n} examples of up to ${T} tokens` +
          (cut > 0 ? ` (${cut} truncated to ${maxLength})` : "") +
          `, ${d.layers + 1} hidden states` +
          (adapters.length > 0 ? ` and ${adapters.length} adapter outputs` : "") +
          ` of ${H}: ${fmtBytes(outputs * n * T * H * 4)}`,
      );
      const bar = new Progress(n, { label: "encode" });
      try {
        for (let i0 = 0; i0 < n; i0 += batchSize) {
          const ids = seqs.slice(i0, i0 + batchSize).map((s) => s.ids);
          const batch = tokenizer.padBatch(ids);
          // The hidden states (as f32), then each adapter model's output.
          const states = tidy(() =>
            noGrad(() => {
              const all = model.hiddenStates(batch);
              const mask = adapters.length === 0 ? null : maskTensor(batch);
              const outs = adapters.map(({ model: a }) =>
                a.forward(a.config.adapterList.map((i) => all[i]), mask)
              );
              return [...all.map((h) => (h.dtype === "f32" ? h : cast(h, "f32"))), ...outs];
            })
          );
          try {
            for (const [k, h] of states.entries()) {
              const v = await h.data();
              const dest = k < hidden.length ? hidden[k] : adapterOut[k - hidden.length];
              // Each example's real tokens; the rest of its row stays 0.
              ids.forEach((s, j) => {
                const from = j * batch.seqLen * H;
                dest.set(v.subarray(from, from + s.length * H), (i0 + j) * T * H);
              });
            }
          } finally {
            states.forEach((h) => h.dispose());
          }
          bar.tick(ids.length);
        }
      } finally {
        bar.finish();
      }
      const padded = tokenizer.padBatch(seqs.map((s) => s.ids), {
        padding: "max_length",
        maxLength: T,
      });
      await writeSafetensors(out, [
        int64("input_ids", [n, T], padded.inputIds),
        int64("attention_mask", [n, T], padded.attentionMask),
        int64("line_numbers", [n], examples.map((e) => e.line)),
        ...hidden.map((data, k): SafetensorsEntry => ({
          name: `hidden_states.${k}`,
          dtype: "F32",
          shape: [n, T, H],
          data,
        })),
        ...adapterOut.map((data, k): SafetensorsEntry => ({
          name: `adapter.${adapters[k].name}`,
          dtype: "F32",
          shape: [n, T, H],
          data,
        })),
      ], {
        format: "pt",
        compute_dtype: model.dtype,
        ...(adapters.length === 0
          ? {}
          : { adapters: JSON.stringify(Object.fromEntries(adapters.map((a) => [a.name, a.dir]))) }),
      });
      console.log(`wrote ${out}`);
      return 0;
    } finally {
      adapters.forEach((a) => a.model.dispose());
      model.dispose();
    }
  },
};

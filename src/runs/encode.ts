// `kadapter encode`: feature extraction. Text lines through the tokenizer and the frozen
// encoder (forward-only path), and optionally adapters, into one safetensors file holding every
// hidden state (and each adapter's output).
import { fmtBytes } from "../gpu/device.ts";
import { type SafetensorsEntry, writeSafetensors } from "../formats/safetensors.ts";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import { baseModelInfo } from "../models/encoder_identity.ts";
import { checkMaxLength, checkTokenizer } from "../models/fit.ts";
import { loadAdapters, type NamedAdapter } from "../models/named_adapters.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { onReleasedLayout } from "../models/released_layout.ts";
import { maskTensor } from "../models/roberta_inputs.ts";
import { cast, contiguous, noGrad, tidy } from "../tensor/mod.ts";
import { Progress } from "../train/progress.ts";
import { RunError } from "../train/run.ts";

export interface EncodeOptions {
  model: string;
  input: string;
  out: string;
  batchSize: number;
  /** Default: the model's limit (and the tokenizer's model_max_length). */
  maxLength?: number;
  f16: boolean;
  adapters: { name: string; dir: string }[];
  /** --force: use adapters trained on another vocabulary or of another kind, with a warning. */
  force?: boolean;
  /** --allow-nonfinite: load a model holding NaN/Inf weights, with a warning. */
  allowNonFinite?: boolean;
}

/** The non-blank lines of a file, with their 1-based line numbers. */
export async function readLines(path: string): Promise<{ line: number; text: string }[]> {
  const lines = (await Deno.readTextFile(path)).split(/\r?\n/);
  const out = lines.map((text, i) => ({ line: i + 1, text })).filter((l) => l.text.trim() !== "");
  if (out.length === 0) {
    throw new RunError(
      `${path}: no text to encode (one example per line; blank lines are skipped)`,
    );
  }
  return out;
}

const int64 = (name: string, shape: number[], v: ArrayLike<number>): SafetensorsEntry => ({
  name,
  dtype: "I64",
  shape,
  data: BigInt64Array.from(Array.from(v, BigInt)),
});

/** Encodes the non-blank lines of `o.input` and writes the file `o.out`. */
export async function encodeLines(o: EncodeOptions): Promise<void> {
  const examples = await readLines(o.input);
  const model = await FrozenRoberta.fromFolder(o.model, {
    f16: o.f16,
    lmHead: false,
    allowNonFinite: o.allowNonFinite,
  });
  let adapters: NamedAdapter[] = [];
  try {
    const d = model.dims;
    const tokenizer = await RobertaTokenizer.fromFolder(o.model);
    checkTokenizer(tokenizer, d, o.model);
    adapters = await loadAdapters(o.adapters, model, {
      base: baseModelInfo(d, tokenizer),
      force: o.force,
      say: (line) => console.log(line),
    }, { allowNonFinite: o.allowNonFinite });
    const limit = maxSequence(d);
    if (o.maxLength !== undefined) checkMaxLength(o.maxLength, d);
    const maxLength = o.maxLength ?? Math.min(limit, tokenizer.modelMaxLength ?? limit);
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
    const layout = { length: maxLength, padId: d.padId };
    try {
      for (let i0 = 0; i0 < n; i0 += o.batchSize) {
        const ids = seqs.slice(i0, i0 + o.batchSize).map((s) => s.ids);
        const batch = tokenizer.padBatch(ids);
        // The hidden states (as f32), then each adapter model's output.
        const states = tidy(() =>
          noGrad(() =>
            onReleasedLayout(batch, adapters.map((a) => a.adapter), layout, (x) => {
              const all = model.hiddenStates(x);
              const mask = adapters.length === 0 ? null : maskTensor(x);
              const outs = adapters.map(({ adapter: a }) =>
                a.forward(a.config.adapterList.map((i) => all[i]), mask)
              );
              return [...all.map((h) => (h.dtype === "f32" ? h : cast(h, "f32"))), ...outs];
            }).map((h) => (h.isContiguous() ? h : contiguous(h)))
          )
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
    await writeSafetensors(o.out, [
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
    console.log(`wrote ${o.out}`);
  } finally {
    adapters.forEach((a) => a.adapter.dispose());
    model.dispose();
  }
}

// Model level: the frozen encoder's forward (inference path) at roberta-base and -large layer
// sizes with random weights, f32 and f16: tokens/s per layer, and the peak GPU bytes it
// allocates besides the weights. Only a few layers run (llvmpipe is slow); the activations'
// peak does not depend on depth (tests/models/roberta_test.ts), and time is per layer.
import { pool } from "../src/gpu/pool.ts";
import { sync } from "../src/gpu/queue.ts";
import { parseConfig } from "../src/formats/hf_config.ts";
import { RobertaModel } from "../src/models/roberta.ts";
import { PRESETS } from "../src/models/roberta_config.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import type { EncoderInput } from "../src/models/roberta_inputs.ts";
import type { Run } from "./timing.ts";

/** Layers actually run; the word embeddings are cut to a small vocabulary (speed-neutral). */
export const BENCH_LAYERS = 2;
const VOCAB = 1000;

export interface ModelCase {
  preset: "base" | "large";
  batch: number;
  seq: number;
  dtype: "f32" | "f16";
}

/** 8 x 64 tokens for speed; roberta-large also at 64 x 64, the memory bound. */
export function modelCases(quick: boolean, f16: boolean): ModelCase[] {
  const shapes = quick
    ? [["base", 8]] as const
    : [["base", 8], ["large", 8], ["large", 64]] as const;
  const out: ModelCase[] = [];
  for (const [preset, batch] of shapes) {
    for (const dtype of f16 ? ["f32", "f16"] as const : ["f32"] as const) {
      out.push({ preset, batch, seq: 64, dtype });
    }
  }
  return out;
}

/** A model of the preset's layer sizes with BENCH_LAYERS layers and seeded random weights. */
export function benchModel(preset: "base" | "large"): RobertaModel {
  const p = PRESETS[preset];
  return new RobertaModel(
    parseConfig({
      vocab_size: VOCAB,
      hidden_size: p.hidden,
      num_hidden_layers: BENCH_LAYERS,
      num_attention_heads: p.heads,
      intermediate_size: p.intermediate,
      max_position_embeddings: p.maxPositions,
      type_vocab_size: 1,
      layer_norm_eps: 1e-5,
      pad_token_id: 1,
      hidden_act: "gelu",
    }, preset),
    0,
  ).eval();
}

/** A full batch of random tokens (no padding). */
function randomInput(batch: number, seq: number): EncoderInput {
  const ids = Array.from({ length: batch * seq }, (_, i) => (i % seq === 0 ? 0 : 3 + (i % 997)));
  return { inputIds: ids, attentionMask: ids.map(() => 1), batch, seqLen: seq };
}

/** One forward to the last layer, keeping only its hidden state; records the peak bytes. */
export function encoderRun(
  model: RobertaModel,
  c: ModelCase,
  peak: { bytes: number },
): Run {
  const frozen = FrozenRoberta.fromModel(model, { f16: c.dtype === "f16" });
  const input = randomInput(c.batch, c.seq);
  return {
    run: async () => {
      pool.resetPeaks();
      const before = pool.stats.bytesInUse;
      const [h] = frozen.hiddenStates(input, { keep: [BENCH_LAYERS] });
      peak.bytes = Math.max(peak.bytes, pool.stats.peakBytesInUse - before);
      await sync();
      h.dispose();
    },
    dispose: () => frozen.dispose(),
  };
}

// The fac suite: one fac (facAdapter pretraining) training step (fac_step.ts) at roberta-large
// shapes with random weights, split in two with a sync between: the frozen forward, then
// everything else. Reports ms per step, examples/s, the share of each part, and the GPU
// memory the whole step needs.
import { sizeClass } from "../src/gpu/pool.ts";
import { parseConfig } from "../src/formats/hf_config.ts";
import { adapterConfig, adapterParamCount } from "../src/models/adapter_config.ts";
import { RobertaModel } from "../src/models/roberta.ts";
import {
  presetConfig,
  PRESETS,
  type RobertaDims,
  robertaDims,
  robertaShapes,
} from "../src/models/roberta_config.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import { bindingRows } from "../src/nn/embedding.ts";
import { BYTES } from "../src/tensor/tensor.ts";
import { type FacStepper, facStepper, type FacStepSpec } from "./fac_step.ts";

/** roberta-large's vocabulary: its table is counted in the memory figure at this size. */
export const REAL_VOCAB = 50265;
/** Vocabulary the benchmark model is built with (speed-neutral; see facWeightBytes). */
const VOCAB = 1000;
/** T-REx-rc relations in the released fac run. */
export const FAC_LABELS = 410;

export interface FacCase {
  preset: "base" | "large";
  batch: number;
  seq: number;
  dtype: "f32" | "f16";
}

/** --quick: roberta-base at 8 x 64; otherwise roberta-large at `batch` (64) x 64. */
export function facCases(quick: boolean, f16: boolean, batch = 64): FacCase[] {
  const [preset, b] = quick ? ["base", 8] as const : ["large", batch] as const;
  return (f16 ? ["f32", "f16"] as const : ["f32"] as const).map((dtype) => ({
    preset,
    batch: b,
    seq: 64,
    dtype,
  }));
}

/** The preset's full-depth encoder with seeded random weights (small vocabulary). */
export function facEncoderModel(preset: "base" | "large"): RobertaModel {
  return new RobertaModel(parseConfig(presetConfig(preset, VOCAB), preset), 0).eval();
}

/** facEncoderModel's dims, without building it. */
export const facDims = (preset: "base" | "large"): RobertaDims =>
  robertaDims(parseConfig(presetConfig(preset, VOCAB), preset));

const isNorm = (name: string) => /(LayerNorm|layer_norm)\.(weight|bias)$/.test(name);

/**
 * Pool bytes of the frozen encoder's weights at the real vocabulary, as
 * FrozenRoberta.fromFolder holds them: LayerNorm parameters f32, the rest in the compute type,
 * the word table in pieces of what one storage binding holds.
 */
export function facWeightBytes(preset: "base" | "large", dtype: "f32" | "f16"): number {
  const d = robertaDims(parseConfig(presetConfig(preset, REAL_VOCAB), preset));
  let bytes = 0;
  for (const [name, shape] of robertaShapes(d, false)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name === "embeddings.word_embeddings.weight") {
      const rows = bindingRows(d.hidden, BYTES[dtype]);
      for (let r = 0; r < d.vocab; r += rows) {
        bytes += sizeClass(Math.min(rows, d.vocab - r) * d.hidden * BYTES[dtype]);
      }
    } else bytes += sizeClass(n * (isNorm(name) ? 4 : BYTES[dtype]));
  }
  return bytes;
}

export interface FacResult {
  /** Frozen forward, then adapter + head + loss + backward + AdamW, ms (best timed step). */
  frozenMs: number;
  restMs: number;
  /** Pool bytes of the adapter, the head and AdamW's moments (gradients live in the step). */
  trainBytes: number;
  /** Peak pool bytes in use during a step above what is resident between steps. */
  stepPeakBytes: number;
  /** Frozen weights at the real vocabulary + trainBytes + stepPeakBytes. */
  totalBytes: number;
  adapterParams: number;
  loss: number;
}

/** The released adapter on an encoder of `d`, full-length rows of `seq`, markers at 1, 5. */
export function facSpec(d: RobertaDims, batch: number, seq: number): FacStepSpec {
  return {
    adapter: adapterConfig(d.hidden, d.layers),
    labels: FAC_LABELS,
    lengths: new Array(batch).fill(seq),
    subj: new Array(batch).fill(1),
    obj: new Array(batch).fill(5),
    padTo: seq,
    split: true,
  };
}

/** Warm-up steps (shader compilation) then `timed` steps; the fastest timed step is kept. */
export async function facStep(
  model: RobertaModel,
  c: FacCase,
  timed = 1,
  log: (s: string) => void = () => {},
): Promise<FacResult> {
  const encoder = FrozenRoberta.fromModel(model, { f16: c.dtype === "f16" });
  const spec = facSpec(encoder.dims, c.batch, c.seq);
  let stepper: FacStepper | null = null;
  try {
    stepper = facStepper(encoder, spec);
    const warm = await stepper.step();
    log(`  warm-up step ${(warm.frozenMs + warm.restMs).toFixed(0)} ms, loss ${warm.loss}`);
    let best = null, stepPeakBytes = warm.stepPeak;
    for (let i = 0; i < timed; i++) {
      const r = await stepper.step();
      log(`  step ${(r.frozenMs + r.restMs).toFixed(0)} ms (frozen ${r.frozenMs.toFixed(0)})`);
      stepPeakBytes = Math.max(stepPeakBytes, r.stepPeak);
      if (!best || r.frozenMs + r.restMs < best.frozenMs + best.restMs) best = r;
    }
    return {
      frozenMs: best!.frozenMs,
      restMs: best!.restMs,
      trainBytes: stepper.trainBytes,
      stepPeakBytes,
      totalBytes: facWeightBytes(c.preset, c.dtype) + stepper.trainBytes + stepPeakBytes,
      adapterParams: adapterParamCount(spec.adapter),
      loss: best!.loss,
    };
  } finally {
    stepper?.dispose();
    encoder.dispose();
  }
}

/** "roberta-large" and its depth, for the table. */
export function facModelName(c: FacCase): string {
  return `roberta-${c.preset} (${PRESETS[c.preset].layers} layers)`;
}

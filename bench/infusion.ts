// One fac (facAdapter pretraining) training step at roberta-large shapes with random weights,
// as `train fac` runs it (src/train/loop.ts): the frozen encoder's forward, the adapter and
// the fac head with the loss, backward, then AdamW with clipping, in one tidy scope. The step
// is split in two with a sync between: the frozen forward, then everything else (the
// InfusionModel reads the hidden states the first part left). Reports ms per step, examples/s,
// the share of each part, and the GPU memory the whole step needs.
import { pool, sizeClass } from "../src/gpu/pool.ts";
import { sync } from "../src/gpu/queue.ts";
import { parseConfig } from "../src/formats/hf_config.ts";
import { adapterConfig, adapterParamCount } from "../src/models/adapter_config.ts";
import { AdapterModel } from "../src/models/kadapter.ts";
import { FacHead, facLoss } from "../src/models/kadapter_heads.ts";
import { RobertaModel } from "../src/models/roberta.ts";
import { presetConfig, PRESETS, robertaDims, robertaShapes } from "../src/models/roberta_config.ts";
import { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import { bindingRows } from "../src/nn/embedding.ts";
import { AdamW } from "../src/nn/optim.ts";
import type { PaddedBatch } from "../src/tasks/examples.ts";
import { InfusionModel } from "../src/tasks/infusion.ts";
import { backward, keep, type Tensor, tidy } from "../src/tensor/mod.ts";
import { BYTES } from "../src/tensor/tensor.ts";

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

/** Random full-length sequences (<s> then ids in [3, VOCAB)), markers at 1 and 5. */
function randomFacBatch(batch: number, seq: number) {
  const inputIds = new Int32Array(batch * seq);
  for (let i = 0; i < inputIds.length; i++) {
    inputIds[i] = i % seq === 0 ? 0 : 3 + Math.floor(Math.random() * (VOCAB - 3));
  }
  const b: PaddedBatch = {
    inputIds,
    attentionMask: new Int32Array(batch * seq).fill(1),
    batch,
    seqLen: seq,
    indices: Array.from({ length: batch }, (_, i) => i),
  };
  const labels = Array.from({ length: batch }, () => Math.floor(Math.random() * FAC_LABELS));
  return { b, subj: new Array(batch).fill(1), obj: new Array(batch).fill(5), labels };
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

/** Warm-up steps (shader compilation) then `timed` steps; the fastest timed step is kept. */
export async function facStep(
  model: RobertaModel,
  c: FacCase,
  timed = 1,
  log: (s: string) => void = () => {},
): Promise<FacResult> {
  const encoder = FrozenRoberta.fromModel(model, { f16: c.dtype === "f16" });
  const L = encoder.dims.layers, H = encoder.dims.hidden;
  const before = pool.stats.bytesInUse;
  const aConfig = adapterConfig(H, L);
  const adapter = new AdapterModel(aConfig, 1);
  const head = new FacHead({ hidden: H, labels: FAC_LABELS, dropout: 0.1, layerNormEps: 1e-5 }, 2);
  const opt = new AdamW([...adapter.namedParameters(), ...head.namedParameters()], {
    lr: 5e-5,
    maxGradNorm: 1,
  });
  const trainBytes = pool.stats.bytesInUse - before;
  // The hidden states InfusionModel keeps; the first part computes them, the second replays.
  const keepList = [...new Set([...aConfig.adapterList, L])];
  let states: Tensor[] = [];
  const replay: FrozenRoberta = Object.create(encoder);
  replay.hiddenStates = (_b, opts) => {
    if (JSON.stringify(opts?.keep) !== JSON.stringify(keepList)) {
      throw new Error(`bench: InfusionModel asked for states ${opts?.keep}, not ${keepList}`);
    }
    return states;
  };
  const infusion = new InfusionModel(replay, adapter, c.seq);
  const run = async () => {
    const { b, subj, obj, labels } = randomFacBatch(c.batch, c.seq);
    pool.resetPeaks();
    const resident = pool.stats.bytesInUse;
    const t0 = performance.now();
    states = encoder.hiddenStates(b, { keep: keepList });
    await sync();
    const t1 = performance.now();
    const loss = tidy(() => {
      const f = infusion.features(b);
      const l = facLoss(head.forward(f.last, f.adapter, subj, obj), labels);
      backward(l);
      return keep(l);
    });
    const norm = opt.update(5e-5);
    opt.zeroGrad();
    await sync();
    const t2 = performance.now();
    states.forEach((s) => s.dispose());
    states = [];
    const stepPeak = pool.stats.peakBytesInUse - resident;
    const value = (await loss.data())[0];
    loss.dispose();
    norm.dispose();
    return { frozenMs: t1 - t0, restMs: t2 - t1, stepPeak, loss: value };
  };
  try {
    const warm = await run();
    log(`  warm-up step ${(warm.frozenMs + warm.restMs).toFixed(0)} ms, loss ${warm.loss}`);
    let best = null, stepPeakBytes = warm.stepPeak;
    for (let i = 0; i < timed; i++) {
      const r = await run();
      log(`  step ${(r.frozenMs + r.restMs).toFixed(0)} ms (frozen ${r.frozenMs.toFixed(0)})`);
      stepPeakBytes = Math.max(stepPeakBytes, r.stepPeak);
      if (!best || r.frozenMs + r.restMs < best.frozenMs + best.restMs) best = r;
    }
    return {
      frozenMs: best!.frozenMs,
      restMs: best!.restMs,
      trainBytes,
      stepPeakBytes,
      totalBytes: facWeightBytes(c.preset, c.dtype) + trainBytes + stepPeakBytes,
      adapterParams: adapterParamCount(aConfig),
      loss: best!.loss,
    };
  } finally {
    states.forEach((s) => s.dispose());
    opt.dispose();
    adapter.dispose();
    head.dispose();
    encoder.dispose();
  }
}

/** "roberta-large" and its depth, for the table. */
export function facModelName(c: FacCase): string {
  return `roberta-${c.preset} (${PRESETS[c.preset].layers} layers)`;
}

// One full fine-tuning step at the paper's downstream shapes with random weights, as
// `kadapter finetune` runs it (src/runs/finetune.ts through src/train/loop.ts): the trained
// RoBERTa encoder, the frozen fac and lin adapters (the released code's adapter config) with
// concat fusion, the task head and its loss, backward, then AdamW with clipping; the forward,
// loss and backward in one tidy scope. Plain RoBERTa (no adapters) is the baseline. Reports ms
// per step, examples/s and the GPU memory the step needs: what is resident between steps
// (parameters and AdamW's moments, measured after the first step, when the moments exist) plus
// the pool's peak above that during a step (activations, the tape, the gradients). The model has
// the real 50,265-word table (in pieces where one storage binding holds less, as on llvmpipe);
// one case recomputes the encoder layers' activations in backward (--recompute).
import { pool } from "../src/gpu/pool.ts";
import { sync } from "../src/gpu/queue.ts";
import { parseConfig } from "../src/formats/hf_config.ts";
import { adapterConfig } from "../src/models/adapter_config.ts";
import { KAdapterEncoder } from "../src/models/fusion.ts";
import { AdapterModel } from "../src/models/kadapter.ts";
import { RobertaModel } from "../src/models/roberta.ts";
import { presetConfig, PRESETS } from "../src/models/roberta_config.ts";
import { RelationHead, relationLoss, TypingHead, typingLoss } from "../src/models/task_heads.ts";
import { AdamW, defaultNoDecay } from "../src/nn/optim.ts";
import { backward, keep, type Tensor, tidy } from "../src/tensor/mod.ts";
import { numel } from "../src/tensor/tensor.ts";
import { REAL_VOCAB } from "./infusion.ts";

/** Open Entity's types and TACRED's relations (no_relation included). */
const TYPES = 9, RELATIONS = 42;

export interface FinetuneCase {
  preset: "base" | "large";
  task: "typing" | "relation";
  batch: number;
  seq: number;
  adapters: boolean;
  /** Recompute the encoder layers' activations in backward. */
  recompute: boolean;
}

/**
 * Full: roberta-large at the paper's shapes (entity typing 4 x 256, TACRED 8 x 184), with
 * fac+lin (TACRED also with recomputation) and plain. --quick: roberta-base at batch 2 x 64
 * (typing) and 2 x 48 (relation).
 */
export function finetuneCases(quick: boolean): FinetuneCase[] {
  const preset = quick ? "base" : "large";
  const shapes = quick
    ? [["typing", 2, 64], ["relation", 2, 48]] as const
    : [["typing", 4, 256], ["relation", 8, 184]] as const;
  const out: FinetuneCase[] = [];
  for (const adapters of [true, false]) {
    for (const [task, batch, seq] of shapes) {
      out.push({ preset, task, batch, seq, adapters, recompute: false });
    }
    if (adapters) out.push({ ...out.at(-1)!, recompute: true });
  }
  return out;
}

/** The preset's full-depth encoder with seeded random weights (real vocabulary), training. */
export function finetuneRoberta(preset: "base" | "large"): RobertaModel {
  return new RobertaModel(parseConfig(presetConfig(preset, REAL_VOCAB), preset), 0).train(true);
}

/** Random full-length sequences (<s> then ids in [3, vocabulary)), markers at 1 and 5. */
function randomBatch(c: FinetuneCase) {
  const { batch, seq } = c;
  const inputIds = new Int32Array(batch * seq);
  for (let i = 0; i < inputIds.length; i++) {
    inputIds[i] = i % seq === 0 ? 0 : 3 + Math.floor(Math.random() * (REAL_VOCAB - 3));
  }
  const input = {
    inputIds,
    attentionMask: new Int32Array(batch * seq).fill(1),
    batch,
    seqLen: seq,
  };
  const targets = Array.from({ length: batch * TYPES }, () => Math.random() < 0.2 ? 1 : 0);
  const labels = Array.from({ length: batch }, () => Math.floor(Math.random() * RELATIONS));
  return { input, subj: new Array(batch).fill(1), obj: new Array(batch).fill(5), targets, labels };
}

export interface FinetuneResult {
  /** Best timed step, ms. */
  ms: number;
  trainableParams: number;
  /** Pool bytes resident between steps (after the first): encoder, adapters, head, moments. */
  residentBytes: number;
  /** Peak pool bytes during a step above the resident ones. */
  stepPeakBytes: number;
  /** resident + step peak. */
  totalBytes: number;
  loss: number;
}

/**
 * `warmup` untimed steps (shader compilation), then `timed` steps; the fastest is kept (with
 * no warm-up, the first step is the timed one). The step peak is the largest of all steps after
 * the first (the first allocates the moments).
 */
export async function finetuneStep(
  roberta: RobertaModel,
  c: FinetuneCase,
  warmup: number,
  timed: number,
  log: (s: string) => void = () => {},
): Promise<FinetuneResult> {
  const d = roberta.dims, H = d.hidden;
  roberta.encoder.setRecompute(c.recompute);
  const adapters: [string, AdapterModel][] = c.adapters
    ? [
      ["fac", new AdapterModel(adapterConfig(H, d.layers), 1)],
      ["lin", new AdapterModel(adapterConfig(H, d.layers), 2)],
    ]
    : [];
  // The wrapper is not disposed at the end (that would free the shared roberta).
  const enc = new KAdapterEncoder(roberta, adapters, { mode: "concat" });
  enc.train(true);
  const head = c.task === "typing"
    ? new TypingHead(H, TYPES, 0.1, 3)
    : new RelationHead(H, RELATIONS, 0.1, 3);
  head.train(true);
  const params: [string, Tensor][] = [
    ...enc.trainableParameters(),
    ...head.namedParameters().map(([n, t]) => [`head.${n}`, t] as [string, Tensor]),
  ];
  const opt = new AdamW(params, {
    lr: 1e-5,
    weightDecay: 0,
    maxGradNorm: 1,
    noDecay: defaultNoDecay,
  });
  const run = async () => {
    const { input, subj, obj, targets, labels } = randomBatch(c);
    await sync();
    pool.resetPeaks();
    const resident = pool.stats.bytesInUse;
    const t0 = performance.now();
    const loss = tidy(() => {
      const f = enc.features(input);
      const l = head instanceof TypingHead
        ? typingLoss(head.forward(f, subj), targets)
        : relationLoss((head as RelationHead).forward(f, subj, obj), labels);
      backward(l);
      return keep(l);
    });
    const norm = opt.update(1e-5);
    opt.zeroGrad();
    await sync();
    const ms = performance.now() - t0;
    const stepPeak = pool.stats.peakBytesInUse - resident;
    const value = (await loss.data())[0];
    loss.dispose();
    norm.dispose();
    return { ms, stepPeak, loss: value };
  };
  try {
    const steps = [];
    for (let i = 0; i < warmup + timed; i++) {
      const r = await run();
      log(
        `  ${i < warmup ? "warm-up step" : "step"} ${r.ms.toFixed(0)} ms, loss ${
          r.loss.toFixed(4)
        }, step peak ${(r.stepPeak / 2 ** 30).toFixed(2)} GiB`,
      );
      steps.push(r);
    }
    const residentBytes = pool.stats.bytesInUse;
    // After the first step the moments exist; its peak counts them as step memory.
    const later = steps.length > 1 ? steps.slice(1) : steps;
    const stepPeakBytes = Math.max(...later.map((r) => r.stepPeak));
    const best = steps.slice(warmup).reduce((a, b) => (b.ms < a.ms ? b : a));
    return {
      ms: best.ms,
      trainableParams: params.reduce((s, [, t]) => s + numel(t.shape), 0),
      residentBytes,
      stepPeakBytes,
      totalBytes: residentBytes + stepPeakBytes,
      loss: best.loss,
    };
  } finally {
    roberta.encoder.setRecompute(false);
    opt.dispose();
    head.dispose();
    enc.fusion.dispose();
    for (const [, a] of adapters) a.dispose();
  }
}

/** "roberta-large (24 layers)", ", recomputed" with recomputation, for the table. */
export function finetuneModelName(c: FinetuneCase): string {
  return `roberta-${c.preset} (${PRESETS[c.preset].layers} layers)` +
    (c.recompute ? ", recomputed" : "");
}

/** "entity typing" / "TACRED" and the head, for the table. */
export function finetuneTaskName(c: FinetuneCase): string {
  return c.task === "typing"
    ? `entity typing (TypingHead, ${TYPES} types, BCE)`
    : `TACRED (RelationHead, ${RELATIONS} labels, CE)`;
}

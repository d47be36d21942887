// One fac training step as `train fac` runs it (src/train/loop.ts, src/tasks/fac.ts): the
// frozen encoder's forward, the adapter and the fac head with the loss and backward in one
// tidy scope, then AdamW with clipping. Shared by the fac suite (roberta shapes, the frozen
// forward timed apart) and the torch suite (the demo's shapes too, timed whole).
import { pool } from "../src/gpu/pool.ts";
import { sync } from "../src/gpu/queue.ts";
import type { AdapterConfig } from "../src/models/adapter_config.ts";
import { AdapterModel } from "../src/models/kadapter.ts";
import { FacHead, facLoss } from "../src/models/kadapter_heads.ts";
import type { FrozenRoberta } from "../src/models/roberta_frozen.ts";
import { AdamW } from "../src/nn/optim.ts";
import type { PaddedBatch } from "../src/tasks/examples.ts";
import { InfusionModel } from "../src/tasks/infusion.ts";
import { backward, keep, type Tensor, tidy } from "../src/tensor/mod.ts";

/** What one step trains on: the adapter, the relations, and the batch's layout. */
export interface FacStepSpec {
  adapter: AdapterConfig;
  labels: number;
  /** Tokens per example (the batch is padded to the longest); markers at subj[i], obj[i]. */
  lengths: number[];
  subj: number[];
  obj: number[];
  /** The run's max length: the padding a mask-"all" adapter reads (InfusionModel). */
  padTo: number;
  /**
   * Sync after the frozen forward, so it is timed apart; the adapter then replays the
   * hidden states the first part kept.
   */
  split: boolean;
}

export interface FacStepTimes {
  /** Frozen forward (0 unless split), then the rest, ms. */
  frozenMs: number;
  restMs: number;
  /** Peak pool bytes in use during the step above what is resident between steps. */
  stepPeak: number;
  loss: number;
}

export interface FacStepper {
  /** Pool bytes of the adapter, the head and AdamW's moments. */
  trainBytes: number;
  step(): Promise<FacStepTimes>;
  dispose(): void;
}

/** A padded batch of random ids (<s> first, in [3, vocab)) at the spec's lengths. */
function randomBatch(s: FacStepSpec, vocab: number, padId: number): PaddedBatch {
  const batch = s.lengths.length, seqLen = Math.max(...s.lengths);
  const inputIds = new Int32Array(batch * seqLen).fill(padId);
  const attentionMask = new Int32Array(batch * seqLen);
  s.lengths.forEach((n, b) => {
    for (let i = 0; i < n; i++) {
      inputIds[b * seqLen + i] = i === 0 ? 0 : 3 + Math.floor(Math.random() * (vocab - 3));
      attentionMask[b * seqLen + i] = 1;
    }
  });
  return { inputIds, attentionMask, batch, seqLen, indices: s.lengths.map((_, i) => i) };
}

/** The adapter, head and optimizer of `s` on `encoder` (which the caller keeps and frees). */
export function facStepper(encoder: FrozenRoberta, s: FacStepSpec): FacStepper {
  const d = encoder.dims, before = pool.stats.bytesInUse;
  const adapter = new AdapterModel(s.adapter, 1);
  const head = new FacHead(
    { hidden: d.hidden, labels: s.labels, dropout: 0.1, layerNormEps: d.layerNormEps },
    2,
  );
  const opt = new AdamW([...adapter.namedParameters(), ...head.namedParameters()], {
    lr: 5e-5,
    maxGradNorm: 1,
  });
  const trainBytes = pool.stats.bytesInUse - before;
  // Split: the hidden states InfusionModel keeps; the first part computes them, it replays.
  const keepList = [...new Set([...s.adapter.adapterList, d.layers])];
  let states: Tensor[] = [];
  const replay: FrozenRoberta = Object.create(encoder);
  replay.hiddenStates = (_b, opts) => {
    if (JSON.stringify(opts?.keep) !== JSON.stringify(keepList)) {
      throw new Error(`bench: InfusionModel asked for states ${opts?.keep}, not ${keepList}`);
    }
    return states;
  };
  const infusion = new InfusionModel(s.split ? replay : encoder, adapter, s.padTo);
  const labels = () => s.lengths.map(() => Math.floor(Math.random() * s.labels));
  return {
    trainBytes,
    async step() {
      const b = randomBatch(s, d.vocab, d.padId);
      pool.resetPeaks();
      const resident = pool.stats.bytesInUse;
      const t0 = performance.now();
      if (s.split) {
        states = encoder.hiddenStates(b, { keep: keepList });
        await sync();
      }
      const t1 = performance.now();
      const loss = tidy(() => {
        const f = infusion.features(b);
        const l = facLoss(head.forward(f.last, f.adapter, s.subj, s.obj), labels());
        backward(l);
        return keep(l);
      });
      const norm = opt.update(5e-5);
      opt.zeroGrad();
      await sync();
      const t2 = performance.now();
      states.forEach((t) => t.dispose());
      states = [];
      const stepPeak = pool.stats.peakBytesInUse - resident;
      const value = (await loss.data())[0];
      loss.dispose();
      norm.dispose();
      return { frozenMs: t1 - t0, restMs: t2 - t1, stepPeak, loss: value };
    },
    dispose() {
      states.forEach((t) => t.dispose());
      opt.dispose();
      adapter.dispose();
      head.dispose();
    },
  };
}

// The demo run: a tiny post-LN transformer classifier trained from scratch on the bundled
// reviews task (data/reviews/) with AdamW, warmup/decay and clipping, evaluated on the
// held-out split. Same seed, same weights, batches, dropout masks and losses.
import { pool } from "../gpu/pool.ts";
import { additiveMask } from "../nn/attention.ts";
import { type ClassifierConfig, SequenceClassifier } from "../nn/classifier.ts";
import { Rng } from "../nn/init.ts";
import { AdamW } from "../nn/optim.ts";
import { linearWarmupDecay } from "../nn/schedule.ts";
import { backward, crossEntropy, noGrad, Tensor, tidy } from "../tensor/mod.ts";
import { type Batch, type Example, loadTextDataset, makeBatch } from "./demo_data.ts";
import { JsonlLog } from "./log.ts";
import { Progress } from "./progress.ts";

export interface DemoOptions {
  /** Folder with vocab.txt, train.jsonl, test.jsonl. */
  data: string;
  /** Output folder (metrics.jsonl goes there). */
  out: string;
  seed: number;
  steps: number;
  batch: number;
  lr: number;
  /** Evaluate on the test split every this many steps (0: only at the end). */
  evalEvery: number;
  /** Stops training early (Ctrl-C) when it returns true; checked between steps. */
  stop: () => boolean;
}

export interface Evaluation {
  accuracy: number;
  loss: number;
  examples: number;
}

export interface DemoResult {
  steps: number;
  seconds: number;
  /** Mean training loss over the last tenth of the steps run. */
  trainLoss: number;
  firstLoss: number;
  test: Evaluation | null;
  /** Accuracy of always answering the most frequent test label. */
  chance: number;
  parameters: number;
  interrupted: boolean;
  metrics: string;
}

/** The demo model: 2 post-LN layers, 4 heads, width 64, feed-forward 128. */
export function demoConfig(vocab: number, seq: number, labels: number): ClassifierConfig {
  return {
    vocab,
    maxPositions: seq,
    layers: 2,
    labels,
    hidden: 64,
    heads: 4,
    intermediate: 128,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    layerNormEps: 1e-5,
    initRange: 0.02,
  };
}

/** Uploads a batch and runs the model: logits [batch, labels] and the mean loss. */
function forward(model: SequenceClassifier, b: Batch) {
  const ids = Tensor.from(b.ids, [b.size, b.seq], "i32");
  const mask = Tensor.from(additiveMask(b.keep, b.size, b.seq), [b.size, 1, 1, b.seq]);
  const logits = model.forward(ids, mask);
  return { logits, loss: crossEntropy(logits, Tensor.from(b.labels, [b.size], "i32")) };
}

export async function evaluate(
  model: SequenceClassifier,
  examples: Example[],
  seq: number,
): Promise<Evaluation> {
  model.eval();
  let correct = 0, lossSum = 0;
  const size = 250;
  for (let i = 0; i < examples.length; i += size) {
    const b = makeBatch(examples.slice(i, i + size), seq);
    const { logits, loss } = noGrad(() => tidy(() => forward(model, b)));
    const l = await logits.data(), c = logits.shape[1];
    lossSum += (await loss.data())[0] * b.size;
    logits.dispose();
    loss.dispose();
    for (let r = 0; r < b.size; r++) {
      const row = l.subarray(r * c, (r + 1) * c);
      if (row.indexOf(Math.max(...row)) === b.labels[r]) correct++;
    }
  }
  model.train();
  return {
    accuracy: correct / examples.length,
    loss: lossSum / examples.length,
    examples: examples.length,
  };
}

/** Batches of the training set in a seeded order, reshuffled every epoch. */
function* batches(train: Example[], size: number, seq: number, rng: Rng) {
  const order = train.map((_, i) => i);
  for (;;) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i + size <= order.length; i += size) {
      yield makeBatch(order.slice(i, i + size).map((k) => train[k]), seq);
    }
  }
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const ds = loadTextDataset(o.data);
  const labels = Math.max(...ds.train.map((e) => e.label)) + 1;
  const cfg = demoConfig(ds.vocab.length, ds.maxLength, labels);
  const model = new SequenceClassifier(cfg, o.seed);
  // Weight decay applies to every parameter here; the demo keeps one parameter group.
  const opt = new AdamW(model.namedParameters(), { lr: o.lr, weightDecay: 0.01, maxGradNorm: 1 });
  const warmup = Math.round(o.steps / 10);
  const metrics = `${o.out}/metrics.jsonl`;
  const log = new JsonlLog(metrics);
  log.write({
    event: "start",
    seed: o.seed,
    steps: o.steps,
    batch: o.batch,
    lr: o.lr,
    config: cfg,
  });
  const counts = new Array(labels).fill(0);
  for (const e of ds.test) counts[e.label]++;
  const chance = Math.max(...counts) / ds.test.length;

  const bar = new Progress(o.steps, { label: "train" });
  const source = batches(ds.train, o.batch, ds.maxLength, new Rng(o.seed ^ 0x5bd1e995));
  const losses: number[] = [];
  const t0 = performance.now();
  let step = 0;
  try {
    while (step < o.steps && !o.stop()) {
      const b = source.next().value!;
      const lr = linearWarmupDecay(step, o.lr, warmup, o.steps);
      const { loss, norm } = tidy(() => {
        const { loss } = forward(model, b);
        backward(loss);
        const norm = opt.update(lr);
        opt.zeroGrad();
        return { loss, norm };
      });
      const value = (await loss.data())[0], gradNorm = (await norm.data())[0];
      loss.dispose();
      norm.dispose();
      if (!Number.isFinite(value)) {
        throw new Error(`training diverged: loss ${value} at step ${step}`);
      }
      step++;
      losses.push(value);
      log.write({ event: "train", step, loss: value, lr, grad_norm: gradNorm });
      bar.tick(1, { loss: value, lr });
      if (o.evalEvery > 0 && step % o.evalEvery === 0 && step < o.steps) {
        const ev = await evaluate(model, ds.test, ds.maxLength);
        log.write({ event: "eval", step, test_accuracy: ev.accuracy, test_loss: ev.loss });
      }
    }
    bar.finish();
    const interrupted = step < o.steps;
    const seconds = (performance.now() - t0) / 1000;
    const test = interrupted ? null : await evaluate(model, ds.test, ds.maxLength);
    if (test) {
      log.write({ event: "eval", step, test_accuracy: test.accuracy, test_loss: test.loss });
    }
    const tail = losses.slice(-Math.max(1, Math.round(losses.length / 10)));
    const result: DemoResult = {
      steps: step,
      seconds,
      trainLoss: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
      firstLoss: losses[0] ?? NaN,
      test,
      chance,
      parameters: model.parameterCount(),
      interrupted,
      metrics,
    };
    log.write({
      event: interrupted ? "interrupted" : "done",
      step,
      seconds,
      train_loss: result.trainLoss,
      test_accuracy: test?.accuracy ?? null,
      peak_gpu_bytes: pool.stats.peakBytesInUse,
    });
    return result;
  } finally {
    log.close();
    opt.dispose();
    model.dispose();
  }
}

// Knowledge infusion end to end (`kadapter train fac|lin`): the frozen encoder from a model
// folder, a new adapter model and the task's head, the Arrow data encoded once, then the
// shared training loop. The run folder gets metrics.jsonl, curves.svg, checkpoint/ (for
// --resume), best/ (best dev score) and adapter/ (the last weights), the latter two as
// adapter folders (adapter_config.json + adapter.safetensors, the head beside them).
import { join } from "node:path";
import { RobertaTokenizer } from "../formats/tokenizer.ts";
import {
  EvalTracker,
  loopOptions,
  openRun,
  runConfig,
  RunError,
  type RunSettings,
  sayer,
} from "../train/run.ts";
import { train, type TrainResult } from "../train/loop.ts";
import { type AdapterConfig, adapterConfig } from "../models/adapter_config.ts";
import { saveAdapterFolder } from "../models/adapter_folder.ts";
import { AdapterModel } from "../models/kadapter.ts";
import { FacHead, type HeadConfig, LinHead } from "../models/kadapter_heads.ts";
import { FrozenRoberta } from "../models/roberta_frozen.ts";
import { maxSequence } from "../models/roberta_config.ts";
import { Examples } from "./examples.ts";
import { encodeFac, evaluateFac, FAC_VALUES, facBatchLoss, relationSet } from "./fac.ts";
import { InfusionModel, loadExamples, type LoadReport, skippedText } from "./infusion.ts";
import { encodeLin, evaluateLin, LIN_TOKENS, linBatchLoss, type LinLoss } from "./lin.ts";

export type InfusionTask = "fac" | "lin";

export interface PretrainOptions extends RunSettings {
  task: InfusionTask;
  /** Model folder of the frozen encoder (config.json, weights, tokenizer). */
  model: string;
  train: string;
  dev?: string;
  /** Split names when train/dev are DatasetDict folders. */
  trainSplit?: string;
  devSplit?: string;
  maxLength: number;
  /** Adapter shape and behaviour over the released code's defaults. */
  adapter: Partial<AdapterConfig>;
  /** Head dropout (hidden_dropout_prob). */
  headDropout: number;
  /** lin only. */
  loss: LinLoss;
  evalBatch: number;
  /** Use only the first N rows of train / dev. */
  limit?: number;
  devLimit?: number;
  f16: boolean;
  /** The adapter's name in its folder (default: the task). */
  name?: string;
}

export interface PretrainResult extends TrainResult {
  /** Dev metrics of the final weights (none without dev data). */
  dev: Record<string, number> | null;
  adapterDir: string;
  bestDir: string | null;
}

/** Settings a resumed run must share with the run it continues. */
const FIXED = ["task", "batch", "accumulate", "lr", "epochs", "steps", "warmup", "maxLength"];

function reportLoad(say: (l: string) => void, what: string, r: LoadReport, ex: Examples) {
  const skipped = skippedText(r);
  say(
    `${what}: ${r.kept} examples, ${ex.tokenCount} tokens` + (skipped ? ` (${skipped})` : ""),
  );
  if (r.kept === 0) throw new RunError(`${what}: no usable examples`);
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const say = sayer(o);
  const config = {
    task: o.task,
    model: o.model,
    train: o.train,
    dev: o.dev ?? null,
    ...runConfig(o),
    maxLength: o.maxLength,
    loss: o.task === "lin" ? o.loss : null,
    limit: o.limit ?? null,
  } as Record<string, unknown>;
  const prior = await openRun(o.out, o.resume, config, FIXED);
  const tok = await RobertaTokenizer.fromFolder(o.model);
  const encoder = await FrozenRoberta.fromFolder(o.model, { f16: o.f16, lmHead: false });
  const d = encoder.dims;
  if (o.maxLength > maxSequence(d)) {
    encoder.dispose();
    throw new RunError(
      `max length ${o.maxLength} exceeds the model's ${maxSequence(d)} positions`,
    );
  }
  const ac = adapterConfig(d.hidden, d.layers, o.adapter);
  const adapter = new AdapterModel(ac, o.seed);
  let head: FacHead | LinHead | null = null;
  try {
    // Data: fac numbers relations by the training set's sorted ids (the resumed run's list).
    let labels: string[] = [];
    if (o.task === "fac") {
      labels = (prior?.labels as string[] | undefined) ?? await relationSet(o.train, o.trainSplit);
      config.labels = labels;
    }
    const index = new Map(labels.map((l, i) => [l, i]));
    const make = () =>
      o.task === "fac" ? new Examples(d.vocab, [], FAC_VALUES) : new Examples(d.vocab, LIN_TOKENS);
    const load = async (path: string, split: string | undefined, limit?: number) => {
      const ex = make();
      const r = o.task === "fac"
        ? await loadExamples(
          path,
          "trex-rc",
          (row) => encodeFac(tok, row, index, o.maxLength),
          ex,
          {
            split,
            limit,
            progress: o.progress,
          },
        )
        : await loadExamples(path, "dependency", (row) => encodeLin(tok, row, o.maxLength), ex, {
          split,
          limit,
          progress: o.progress,
        });
      reportLoad(say, path, r, ex);
      return ex;
    };
    const trainEx = await load(o.train, o.trainSplit, o.limit);
    const devEx = o.dev ? await load(o.dev, o.devSplit, o.devLimit) : null;

    const hc: HeadConfig = {
      hidden: d.hidden,
      labels: o.task === "fac" ? labels.length : o.maxLength,
      dropout: o.headDropout,
      layerNormEps: d.layerNormEps,
    };
    head = o.task === "fac" ? new FacHead(hc, o.seed + 1) : new LinHead(hc, o.seed + 1);
    const model = new InfusionModel(encoder, adapter);
    const padId = d.padId;
    const loss = (indices: number[]) =>
      head instanceof FacHead
        ? facBatchLoss(model, head, trainEx, indices, padId)
        : linBatchLoss(model, head!, trainEx, indices, padId, o.loss);
    const evaluate = devEx
      ? () =>
        head instanceof FacHead
          ? evaluateFac(model, head, devEx, labels, { batchSize: o.evalBatch, padId })
          : evaluateLin(model, head!, devEx, { batchSize: o.evalBatch, padId })
      : undefined;
    const shared = loopOptions(o, trainEx.length), total = shared.steps;
    const exportTo = (dir: string, step: number, dev: Record<string, number> | null) =>
      saveAdapterFolder(dir, adapter, {
        name: o.name ?? o.task,
        task: o.task,
        base: {
          model_type: "roberta",
          hidden_size: d.hidden,
          num_hidden_layers: d.layers,
          vocab_size: d.vocab,
        },
        training: { ...config, step, total_steps: total, dev_metrics: dev },
      }, {
        module: head!,
        meta: {
          task: o.task,
          config: hc,
          labels: o.task === "fac" ? labels : null,
          maxLength: o.maxLength,
          loss: o.task === "lin" ? o.loss : "ce",
        },
      });
    const evals = new EvalTracker(o.out, `kadapter train ${o.task}`);
    say(
      `${o.task}: adapter ${adapter.parameterCount().toLocaleString("en-US")} + head ` +
        `${head.parameterCount().toLocaleString("en-US")} trainable parameters; encoder ` +
        `frozen (${d.layers} layers, ${encoder.dtype}); ${total} steps of ${o.batch} examples`,
    );
    const bestMetric = o.task === "fac" ? "micro_f1" : "uas";
    const result = await train<number[]>({
      ...shared,
      params: [...adapter.namedParameters(), ...head.namedParameters()],
      makeBatch: (indices) => indices,
      loss,
      dropout: [adapter.dropoutRng, head.dropoutRng],
      evaluate,
      onEval: evals.onEval,
      saveBest: (dir) => exportTo(dir, evals.last!.step, evals.last!.metrics),
      bestMetric,
      config,
    });
    const dev = evals.at(result.step);
    const adapterDir = join(o.out, "adapter");
    await exportTo(adapterDir, result.step, dev);
    await evals.plot();
    return { ...result, dev, adapterDir, bestDir: result.best ? join(o.out, "best") : null };
  } finally {
    head?.dispose();
    adapter.dispose();
    encoder.dispose();
  }
}

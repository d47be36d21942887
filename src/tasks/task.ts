// The one task interface (fac, lin, the four fine-tuning tasks, MLM, the probe's MLM layer):
// rows of one Arrow schema become examples in the task's store, a micro-batch of store indices
// gives a loss, and a split gives metrics and per-example predictions. A task value is made
// with what encoding needs (tokenizer and scheme, labels, max length) bound in, so the runners
// (src/runs/) and the loop never look inside it. Also here: the one split loader every task's
// data goes through, and the batched, length-ordered evaluation the tasks share.
import { countRows, readRows } from "../formats/arrow.ts";
import type { Rows, SchemaName } from "../formats/schemas.ts";
import type { Tokenization } from "../formats/tokenization.ts";
import type { RobertaTokenizer } from "../formats/tokenizer.ts";
import { noGrad, type Tensor, tidy } from "../tensor/mod.ts";
import { Progress, type ProgressOptions } from "../train/progress.ts";

/** Where a task keeps a split's examples (an Examples store, or groups of sequences). */
export interface Store<E> {
  /** Examples held (what evaluation counts and `Split.rows` indexes). */
  readonly length: number;
  add(e: E): void;
}

/** Rows read and kept by a loader; rows left out are counted by reason, never silently. */
export interface LoadReport {
  rows: number;
  kept: number;
  /** Rows left out, by reason (e.g. "marker past max length"). */
  skipped: Map<string, number>;
  /** Rows kept but encoded in a way they should know of, by note (never silently). */
  altered: Map<string, number>;
}

/** What a task value is made with: the tokenizer and the sizes encoding and batching need. */
export interface Encoding {
  tok: RobertaTokenizer;
  maxLength: number;
  /** The model's vocabulary (sizes the stores' id columns). */
  vocab: number;
  padId: number;
  /** How task text becomes ids (tokenization.ts; default `original`); MLM ignores it. */
  tokenization?: Tokenization;
}

/** What a loader tells a task's encoder about the row. */
export interface EncodeContext {
  train: boolean;
  dropped: Map<string, number>;
  /** Kept rows encoded another way than usual, counted by note (LoadReport.altered). */
  altered: Map<string, number>;
}

/** A split encoded for a task: the examples and, for each, the data row it came from. */
export interface Split<St> {
  ex: St;
  rows: number[];
  report: LoadReport;
  /** Gold labels unknown to the task's label list, by name (left out of the examples). */
  dropped: Map<string, number>;
}

/** Metrics of a split and one JSON record per example, in example order (its row in `row`). */
export interface TaskOutput {
  metrics: Record<string, number>;
  predictions: Record<string, unknown>[];
}

/**
 * A task over rows of schema S, examples E kept in a store St, trained and evaluated on a
 * model M (what the task's loss reads: e.g. features and a head).
 */
export interface Task<S extends SchemaName, E, St extends Store<E>, M> {
  /** The name runs record, e.g. "fac" or "entity-typing". */
  readonly name: string;
  readonly schema: S;
  /** The dev metric that picks best/, and whether lower is better (losses). */
  readonly bestMetric: string;
  readonly lowerIsBetter?: boolean;
  /** An empty store. */
  store(): St;
  /**
   * One row as example(s), or a reason string to skip it (counted by reason). `ctx.train`: the
   * row is for training (a task may encode evaluation rows without looking at their answers);
   * `ctx.dropped` counts gold labels the task's label list lacks, by name; `ctx.altered` rows
   * kept but encoded another way (an over-long evaluation row), by note.
   */
  encode(row: Rows[S], ctx: EncodeContext): E | E[] | string;
  /** Units the loop draws batches from (default: the store's length; span QA: paragraphs). */
  trainSize?(ex: St): number;
  /** Mean loss of a training micro-batch (indices below trainSize); runs inside tidy. */
  loss(model: M, ex: St, indices: number[]): Tensor;
  /** Metrics (bestMetric among them) and predictions over a split, the model in eval mode. */
  evaluate(model: M, split: Split<St>, batchSize: number): Promise<TaskOutput>;
}

export interface LoadOptions {
  split?: string;
  limit?: number;
  train?: boolean;
  label?: string;
  progress?: ProgressOptions;
}

/** Streams a dataset through the task's encoder into a new store (the one split loader). */
export async function loadSplit<S extends SchemaName, E, St extends Store<E>>(
  task: Pick<Task<S, E, St, unknown>, "schema" | "store" | "encode">,
  path: string,
  opts: LoadOptions = {},
): Promise<Split<St>> {
  const ex = task.store(), rows: number[] = [];
  const ctx: EncodeContext = {
    train: opts.train ?? false,
    dropped: new Map(),
    altered: new Map(),
  };
  const total = Math.min(await countRows(path, opts.split, task.schema), opts.limit ?? Infinity);
  const bar = new Progress(total, { label: opts.label ?? "encode", ...opts.progress });
  const report: LoadReport = { rows: 0, kept: 0, skipped: new Map(), altered: ctx.altered };
  try {
    for await (const chunk of readRows(path, task.schema, opts.split)) {
      for (const row of chunk) {
        if (report.rows >= total) break;
        const e = task.encode(row, ctx);
        if (typeof e === "string") report.skipped.set(e, (report.skipped.get(e) ?? 0) + 1);
        else {
          for (const one of Array.isArray(e) ? e : [e]) {
            ex.add(one);
            rows.push(report.rows);
          }
          report.kept++;
        }
        report.rows++;
      }
      bar.tick(chunk.length);
      if (report.rows >= total) break;
    }
  } finally {
    bar.finish();
  }
  return { ex, rows, report, dropped: ctx.dropped };
}

/** "12 rows skipped: 10 marker past max length, 2 unknown relation". */
export function skippedText(r: LoadReport): string {
  const n = [...r.skipped.values()].reduce((a, b) => a + b, 0);
  if (n === 0) return "";
  return `${n} rows skipped: ` + [...r.skipped].map(([why, k]) => `${k} ${why}`).join(", ");
}

/** "3 rows: TACRED marker cut away, read at position 174 (released)". */
export function alteredText(r: LoadReport): string {
  return [...r.altered].map(([note, k]) => `${k} rows: ${note}`).join(", ");
}

/** Something with a train/eval mode (modules, feature models). */
export interface Switchable {
  train(on?: boolean): unknown;
}

/**
 * Runs `forward` (the model's output for some examples, computed synchronously) on every
 * example in batches, in order of length so padding stays small, with the modules in eval
 * mode and no tape, and hands each batch's host values to `consume`.
 */
export async function evaluateBatches(
  n: number,
  length: (i: number) => number,
  batchSize: number,
  modules: Switchable[],
  forward: (indices: number[]) => Tensor,
  consume: (indices: number[], values: Float32Array) => void,
): Promise<void> {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => length(a) - length(b));
  modules.forEach((m) => m.train(false));
  // One batch in flight: the next is recorded while the last one's values come back.
  let prev: { indices: number[]; t: Tensor; values: Promise<Float32Array | Int32Array> } | null =
    null;
  const finish = async () => {
    if (!prev) return;
    const { indices, t, values } = prev;
    prev = null;
    try {
      consume(indices, Float32Array.from(await values));
    } finally {
      t.dispose();
    }
  };
  try {
    for (let i = 0; i < n; i += batchSize) {
      const indices = order.slice(i, i + batchSize);
      const t = tidy(() => noGrad(() => forward(indices)));
      const values = t.data();
      values.catch(() => {}); // awaited in finish, or disposed unread after an error
      await finish().catch((e) => {
        t.dispose();
        throw e;
      });
      prev = { indices, t, values };
    }
    await finish();
  } finally {
    prev?.t.dispose();
    modules.forEach((m) => m.train(true));
  }
}

/** Logits of every example, in example order, as host rows of `width` values. */
export async function allLogits(
  n: number,
  length: (i: number) => number,
  width: number,
  batchSize: number,
  modules: Switchable[],
  forward: (indices: number[]) => Tensor,
): Promise<Float32Array[]> {
  const out: Float32Array[] = new Array(n);
  await evaluateBatches(n, length, batchSize, modules, forward, (ix, v) => {
    ix.forEach((i, r) => (out[i] = v.slice(r * width, (r + 1) * width)));
  });
  return out;
}

/** Row-wise argmax of a [rows, n] host array. */
export function argmaxRows(v: Float32Array, n: number): Int32Array {
  const rows = v.length / n, out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (v[r * n + j] > v[r * n + best]) best = j;
    out[r] = best;
  }
  return out;
}

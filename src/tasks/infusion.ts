// What fac and lin pretraining share (reference section 4): the frozen encoder feeding an
// adapter model, streaming a dataset into encoded examples, and batched evaluation.
import type { FrozenRoberta } from "../models/roberta_frozen.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import { maskTensor } from "../models/roberta_inputs.ts";
import { countRows, readRows } from "../formats/arrow.ts";
import type { Rows, SchemaName } from "../formats/schemas.ts";
import { cast, noGrad, type Tensor, tidy } from "../tensor/mod.ts";
import { Progress, type ProgressOptions } from "../train/progress.ts";
import type { Example, PaddedBatch } from "./examples.ts";

/** What a head reads: the encoder's last hidden state and the adapter output, both f32. */
export interface Features {
  last: Tensor;
  adapter: Tensor;
  /** Additive attention mask [batch, 1, 1, seq] (0 at tokens, -1e9 at padding). */
  mask: Tensor;
}

export class InfusionModel {
  /** Hidden states the encoder keeps: the adapter's inputs, then the last one. */
  readonly #keep: number[];

  constructor(readonly encoder: FrozenRoberta, readonly adapter: AdapterModel) {
    const list = adapter.config.adapterList, L = encoder.dims.layers;
    if (adapter.config.hidden !== encoder.dims.hidden) {
      throw new Error(
        `the adapter reads hidden size ${adapter.config.hidden}, the encoder has ` +
          `${encoder.dims.hidden}`,
      );
    }
    const bad = list.find((i) => i > L);
    if (bad !== undefined) {
      throw new Error(`adapter_list entry ${bad} is past the encoder's last layer (${L})`);
    }
    this.#keep = [...new Set([...list, L])];
  }

  /** The frozen forward (no tape) then the adapter (taped when gradients are on). */
  features(b: PaddedBatch): Features {
    const states = this.encoder.hiddenStates(b, { keep: this.#keep });
    const at = (i: number) => states[this.#keep.indexOf(i)];
    const mask = maskTensor(b);
    const adapter = this.adapter.forward(this.adapter.config.adapterList.map(at), mask);
    const l = at(this.encoder.dims.layers);
    return { last: l.dtype === "f32" ? l : noGrad(() => cast(l, "f32")), adapter, mask };
  }
}

export interface LoadReport {
  rows: number;
  kept: number;
  /** Rows left out, by reason (e.g. "marker past max length"). */
  skipped: Map<string, number>;
}

/**
 * Streams a dataset's rows through `encode` into `into` (an example store, or a store of
 * groups such as a question's choices); a string from `encode` skips the row and counts it
 * under that reason, so nothing is dropped silently.
 */
export async function loadExamples<S extends SchemaName, T extends object = Example>(
  path: string,
  schema: S,
  encode: (row: Rows[S]) => T | string,
  into: { add(x: T): void },
  opts: { split?: string; limit?: number; label?: string; progress?: ProgressOptions } = {},
): Promise<LoadReport> {
  const total = Math.min(await countRows(path, opts.split), opts.limit ?? Infinity);
  const bar = new Progress(total, { label: opts.label ?? "encode", ...opts.progress });
  const report: LoadReport = { rows: 0, kept: 0, skipped: new Map() };
  try {
    for await (const rows of readRows(path, schema, opts.split)) {
      for (const row of rows) {
        if (report.rows >= total) break;
        report.rows++;
        const e = encode(row);
        if (typeof e === "string") report.skipped.set(e, (report.skipped.get(e) ?? 0) + 1);
        else {
          into.add(e);
          report.kept++;
        }
      }
      bar.tick(rows.length);
      if (report.rows >= total) break;
    }
  } finally {
    bar.finish();
  }
  return report;
}

/** "12 rows skipped: 10 marker past max length, 2 unknown relation". */
export function skippedText(r: LoadReport): string {
  const n = [...r.skipped.values()].reduce((a, b) => a + b, 0);
  if (n === 0) return "";
  return `${n} rows skipped: ` + [...r.skipped].map(([why, k]) => `${k} ${why}`).join(", ");
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
  modules: { train(on?: boolean): unknown }[],
  forward: (indices: number[]) => Tensor,
  consume: (indices: number[], values: Float32Array) => void,
): Promise<void> {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => length(a) - length(b));
  modules.forEach((m) => m.train(false));
  try {
    for (let i = 0; i < n; i += batchSize) {
      const indices = order.slice(i, i + batchSize);
      const t = tidy(() => noGrad(() => forward(indices)));
      try {
        consume(indices, Float32Array.from(await t.data()));
      } finally {
        t.dispose();
      }
    }
  } finally {
    modules.forEach((m) => m.train(true));
  }
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

// What a downstream task (reference section 5) adds to the task interface for `kadapter
// finetune` / `eval` / `predict`: its label list from the training split, its head, its
// released max length; and the model its loss reads (the encoder + adapters' features for a
// padded batch, and the head). A registry of the four tasks by name keeps each task's own
// types behind `use`, so no caller casts a store or a head.
import type { SchemaName } from "../formats/schemas.ts";
import type { Module } from "../nn/module.ts";
import type { DropoutRng, Tensor } from "../tensor/mod.ts";
import type { PaddedBatch } from "./examples.ts";
import type { Encoding, Store, Switchable, Task } from "./task.ts";

/** What a head reads for a padded batch: task features [batch, seq, H]. */
export type TaskFeatures = (b: PaddedBatch) => Tensor;

/** A task head: any module with its own dropout stream (checkpointed by the loop). */
export interface TaskHead extends Module {
  readonly dropoutRng: DropoutRng;
}

/** What a fine-tuning task's loss and evaluation read. */
export interface Finetuning<H> {
  features: TaskFeatures;
  head: H;
  /** The feature model's modules: in eval mode with the head during evaluation. */
  modules: Switchable[];
}

/** Task variants chosen on the command line and stored with the model. */
export interface TaskSettings {
  /** Entity typing: FIGER's evaluation (the argmax type is always predicted). */
  figer?: boolean;
  /**
   * Relation: the released `--negative_sample` N; training keeps the first N - 1
   * `no_relation` rows in file order, as its count-down does. 0 or absent: all.
   */
  maxNegatives?: number;
}

export interface FinetuneTask<S extends SchemaName, E, St extends Store<E>, H extends TaskHead> {
  /** The CLI name, e.g. "entity-typing". */
  readonly name: string;
  readonly schema: S;
  /** The released code's max length (presets may override). */
  readonly maxLength: number;
  /** The label list, from the training split (sorted; saved with the model). */
  labels(path: string, split?: string): Promise<string[]>;
  head(hidden: number, labels: number, dropout: number, seed: number): H;
  /** The task over a label list, with what encoding needs. */
  task(c: Encoding, labels: readonly string[]): Task<S, E, St, Finetuning<H>>;
}

/** A fine-tuning task whose types stay its own: `use` hands it to generic code. */
export interface SomeFinetuneTask {
  readonly name: string;
  readonly maxLength: number;
  use<R>(
    f: <S extends SchemaName, E, St extends Store<E>, H extends TaskHead>(
      t: FinetuneTask<S, E, St, H>,
    ) => R,
  ): R;
}

export function some<S extends SchemaName, E, St extends Store<E>, H extends TaskHead>(
  t: FinetuneTask<S, E, St, H>,
): SomeFinetuneTask {
  return { name: t.name, maxLength: t.maxLength, use: (f) => f(t) };
}

// Downstream fine-tuning with knowledge adapters (kadapter-reference.md section 5): a trainable
// RoBERTa encoder, frozen adapters reading its hidden states, and the fusion of the encoder's
// last hidden state h_L with the adapters' outputs into the task features every head reads.
//
// Fusion (`fusion_mode`), for adapters a_1..a_k in a fixed order:
// - "add": task = h_L + a_1 + ... + a_k.
// - "concat" (the code's default):
//   k = 0: task = h_L (plain RoBERTa; no parameters).
//   k = 1: task = task_dense_<name>(cat(h_L, a_1)), Linear 2H -> H (the documented one-adapter
//          form, where the released code crashed).
//   k >= 2: f_i = task_dense_<name_i>(cat(h_L, a_i)), Linear 2H -> H each, then
//          task = task_dense(cat(f_1, ..., f_k)), Linear kH -> H. For k = 2 this is exactly the
//          code's fac_f / lin_f / task_dense(cat(fac_f, lin_f)); k > 2 generalises it by
//          widening the last Linear's input rather than nesting 2H -> H layers.
// Parameter names follow the released code (`task_dense_fac.weight`, `task_dense_lin.bias`,
// `task_dense.weight`, ...), keyed by the adapters' names; all get PyTorch's default Linear init
// (weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
import { add, concat, type Tensor } from "../tensor/mod.ts";
import { Rng } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import type { AdapterModel } from "./kadapter.ts";
import type { RobertaModel } from "./roberta.ts";
import { onReleasedLayout } from "./released_layout.ts";
import { type EncoderInput, maskTensor } from "./roberta_inputs.ts";

export type FusionMode = "concat" | "add";

const NAME = /^[A-Za-z0-9_]+$/;

function checkNames(names: readonly string[]): void {
  for (const n of names) {
    if (!NAME.test(n)) throw new Error(`adapter name "${n}" must be letters, digits or _`);
  }
  if (new Set(names).size !== names.length) {
    throw new Error(`adapter names must be distinct, got ${names.join(", ")}`);
  }
}

/** Combines h_L with the adapters' outputs (see the file comment for every case). */
export class Fusion extends Module {
  /** concat mode: task_dense_<name> per adapter (Linear 2H -> H), in adapter order. */
  readonly perAdapter: Linear[];
  /** concat mode with two or more adapters: task_dense (Linear kH -> H); otherwise null. */
  readonly task: Linear | null;

  constructor(
    readonly hidden: number,
    readonly names: readonly string[],
    readonly mode: FusionMode = "concat",
    seed = 0,
  ) {
    super();
    checkNames(names);
    const rng = new Rng(seed), H = hidden, k = names.length;
    const concatMode = mode === "concat";
    this.perAdapter = concatMode
      ? names.map((n) => this.child(`task_dense_${n}`, new Linear(2 * H, H, rng)))
      : [];
    this.task = concatMode && k >= 2 ? this.child("task_dense", new Linear(k * H, H, rng)) : null;
  }

  /** last = h_L [batch, seq, H]; adapters[i] = adapter i's output [batch, seq, H]. */
  forward(last: Tensor, adapters: Tensor[]): Tensor {
    if (adapters.length !== this.names.length) {
      throw new Error(
        `fusion of ${this.names.length} adapters got ${adapters.length} adapter outputs`,
      );
    }
    if (adapters.length === 0) return last;
    if (this.mode === "add") return adapters.reduce((s, a) => add(s, a), last);
    const f = adapters.map((a, i) => this.perAdapter[i].forward(concat([last, a], 2)));
    return this.task ? this.task.forward(concat(f, 2)) : f[0];
  }
}

export interface KAdapterEncoderOptions {
  /** Default "concat", as the released scripts. */
  mode?: FusionMode;
  /** Seed of the fusion layers' init. Default 42 (the scripts' seed). */
  seed?: number;
  /** Freeze the encoder: its parameters get no gradient (default false: fully trained). */
  freezeEncoder?: boolean;
  /**
   * Train the adapters too (their parameters get gradients and follow train()/eval()).
   * Default false: adapters frozen and always in eval mode.
   */
  trainAdapters?: boolean;
  /**
   * The run's max length: mask-"all" adapters then see the batch padded to it, as in the
   * released code (released_layout.ts). Without it, batches run as given.
   */
  padTo?: number;
}

/**
 * RoBERTa + knowledge adapters + fusion: the task features of section 5. Parameter names
 * (namedParameters, trainableParameters): `roberta.<HF name>`, `adapters.<name>.<adapter
 * checkpoint name>`, `fusion.task_dense_<name>.*` / `fusion.task_dense.*`.
 *
 * Frozen adapters (the default) have requiresGrad off on every parameter, so they collect no
 * .grad, but their ops are still taped whenever their input (an encoder hidden state) requires
 * grad: gradients flow through them into the encoder, which is fine-tuned along every adapter
 * path as well as through h_L. They stay in eval mode (no dropout) whatever train() is called.
 * Takes ownership of the encoder and the adapters: dispose() frees them all.
 */
export class KAdapterEncoder extends Module {
  readonly fusion: Fusion;
  readonly adapters: ReadonlyMap<string, AdapterModel>;
  readonly freezeEncoder: boolean;
  readonly trainAdapters: boolean;
  readonly padTo: number | undefined;

  /** `adapters` in fusion order (name, model); an empty list gives plain RoBERTa. */
  constructor(
    readonly roberta: RobertaModel,
    adapters: readonly (readonly [string, AdapterModel])[],
    opts: KAdapterEncoderOptions = {},
  ) {
    super();
    const names = adapters.map(([n]) => n);
    checkNames(names);
    const d = roberta.dims;
    for (const [n, a] of adapters) {
      if (a.config.hidden !== d.hidden) {
        throw new Error(
          `adapter "${n}" has hidden size ${a.config.hidden}; the encoder has ${d.hidden}`,
        );
      }
      const bad = a.config.adapterList.find((i) => i > d.layers);
      if (bad !== undefined) {
        throw new Error(
          `adapter "${n}" reads hidden state ${bad}; the encoder has ${d.layers} layers`,
        );
      }
    }
    this.freezeEncoder = opts.freezeEncoder ?? false;
    this.trainAdapters = opts.trainAdapters ?? false;
    this.padTo = opts.padTo;
    this.child("roberta", roberta);
    this.adapters = new Map(adapters.map(([n, a]) => [n, this.child(`adapters.${n}`, a)]));
    this.fusion = this.child(
      "fusion",
      new Fusion(d.hidden, names, opts.mode ?? "concat", opts.seed ?? 42),
    );
    if (this.freezeEncoder) { for (const t of roberta.parameters()) t.requiresGrad = false; }
    for (const a of this.adapters.values()) {
      for (const t of a.parameters()) t.requiresGrad = this.trainAdapters;
      if (!this.trainAdapters) a.eval();
    }
    this.training = roberta.training;
  }

  /** Frozen adapters stay in eval mode. */
  override train(on = true): this {
    super.train(on);
    if (!this.trainAdapters) { for (const a of this.adapters.values()) a.eval(); }
    return this;
  }

  /** Task features [batch, seq, H]: fusion(h_L, adapter outputs). */
  features(input: EncoderInput): Tensor {
    if (this.padTo === undefined) return this.fuse(this.roberta.forward(input), maskTensor(input));
    const layout = { length: this.padTo, padId: this.roberta.dims.padId };
    // Fusion acts per token, so it runs on the batch's own length.
    const [last, ...outs] = onReleasedLayout(input, this.adapters.values(), layout, (x) => {
      const states = this.roberta.forward(x);
      return [states.at(-1)!, ...this.#adapterOutputs(states, maskTensor(x))];
    });
    return this.fusion.forward(last, outs);
  }

  /**
   * The same from given hidden states (states[0] the embedding output .. states[L] = h_L) and
   * the additive attention mask [batch, 1, 1, seq] (read by "padding"-mask adapters only).
   */
  fuse(states: Tensor[], mask: Tensor): Tensor {
    if (states.length !== this.roberta.dims.layers + 1) {
      throw new Error(
        `need ${this.roberta.dims.layers + 1} hidden states, got ${states.length}`,
      );
    }
    return this.fusion.forward(states.at(-1)!, this.#adapterOutputs(states, mask));
  }

  #adapterOutputs(states: Tensor[], mask: Tensor): Tensor[] {
    return [...this.adapters.values()].map((a) =>
      a.forward(a.config.adapterList.map((i) => states[i]), mask)
    );
  }

  /** The parameters that get gradients, under the prefixes above (for the optimizer). */
  trainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, t]) => t.requiresGrad);
  }
}

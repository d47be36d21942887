// What fac and lin pretraining share (reference section 4): the frozen encoder feeding an
// adapter model, or, for a store with a cache of the encoder's states (--cache-features,
// infusion_cache.ts), those states read back instead of the encoder run again.
import type { FrozenRoberta } from "../models/roberta_frozen.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import { onReleasedLayout } from "../models/released_layout.ts";
import { type EncoderInput, maskTensor } from "../models/roberta_inputs.ts";
import { cast, noGrad, Tensor } from "../tensor/mod.ts";
import type { FeatureCache } from "../train/feature_cache.ts";
import type { Examples, PaddedBatch } from "./examples.ts";

/** What a head reads: the encoder's last hidden state and the adapter output, both f32. */
export interface Features {
  last: Tensor;
  adapter: Tensor;
  /** Additive attention mask [batch, 1, 1, seq] (0 at tokens, -1e9 at padding). */
  mask: Tensor;
}

export class InfusionModel {
  /** Hidden states the encoder keeps: the adapter's inputs, then the last one. */
  readonly keep: readonly number[];
  /** Stores whose batches are read from a cache of these states (--cache-features). */
  readonly #caches = new Map<Examples, FeatureCache>();

  /** `padTo`: the run's max length, the padding a mask-"all" adapter sees (released_layout.ts). */
  constructor(
    readonly encoder: FrozenRoberta,
    readonly adapter: AdapterModel,
    readonly padTo: number,
  ) {
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
    this.keep = [...new Set([...list, L])];
  }

  /** The kept states of `input` (on the layout the adapter reads), in the compute type. */
  states(input: EncoderInput): Tensor[] {
    return this.encoder.hiddenStates(input, { keep: [...this.keep] });
  }

  /** Reads the batches of `ex` from `cache` (infusion_cache.ts) instead of the encoder. */
  useCache(ex: Examples, cache: FeatureCache): void {
    this.#caches.get(ex)?.close();
    this.#caches.set(ex, cache);
  }

  /** Frees the caches in use. */
  closeCaches(): void {
    for (const c of this.#caches.values()) c.close();
    this.#caches.clear();
  }

  /**
   * The frozen forward (no tape), or the states from the cache of `ex` (the store `b` was
   * drawn from) when it has one, then the adapter (taped when gradients are on).
   */
  features(b: PaddedBatch, ex?: Examples): Features {
    const layout = { length: this.padTo, padId: this.encoder.dims.padId };
    const cache = ex && this.#caches.get(ex), h = this.encoder.dims.hidden;
    const [l, adapter] = onReleasedLayout(b, [this.adapter], layout, (input) => {
      const states = cache
        ? cache.assemble(b.indices, input.seqLen)
          .map((v) => Tensor.from(v, [b.batch, input.seqLen, h]))
        : this.states(input);
      const at = (i: number) => states[this.keep.indexOf(i)];
      const out = this.adapter.forward(this.adapter.config.adapterList.map(at), maskTensor(input));
      return [at(this.encoder.dims.layers), out];
    });
    const last = l.dtype === "f32" ? l : noGrad(() => cast(l, "f32"));
    return { last, adapter, mask: maskTensor(b) };
  }
}

/** What fac's and lin's losses read: the encoder + adapter's features, and the task head. */
export interface Infused<H> {
  model: InfusionModel;
  head: H;
}

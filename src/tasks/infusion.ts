// What fac and lin pretraining share (reference section 4): the frozen encoder feeding an
// adapter model.
import type { FrozenRoberta } from "../models/roberta_frozen.ts";
import type { AdapterModel } from "../models/kadapter.ts";
import { onReleasedLayout } from "../models/released_layout.ts";
import { maskTensor } from "../models/roberta_inputs.ts";
import { cast, noGrad, type Tensor } from "../tensor/mod.ts";
import type { PaddedBatch } from "./examples.ts";

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
    this.#keep = [...new Set([...list, L])];
  }

  /** The frozen forward (no tape) then the adapter (taped when gradients are on). */
  features(b: PaddedBatch): Features {
    const layout = { length: this.padTo, padId: this.encoder.dims.padId };
    const [l, adapter] = onReleasedLayout(b, [this.adapter], layout, (input) => {
      const states = this.encoder.hiddenStates(input, { keep: this.#keep });
      const at = (i: number) => states[this.#keep.indexOf(i)];
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

// The K-Adapter adapter model: adapter layers plugged outside a frozen encoder, each reading
// one of its hidden states plus the previous adapter layer's output (reference section 3).
import { add, cast, concat, DropoutRng, type Tensor } from "../tensor/mod.ts";
import { Rng, withoutInit } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import type { AdapterConfig } from "./adapter_config.ts";
import { AdapterLayer, torchDefaults } from "./adapter_layer.ts";

export class AdapterModel extends Module {
  readonly layers: AdapterLayer[];
  /** concat mode only: fuse[i] (i >= 1) maps cat(hidden state, previous output) to H. */
  readonly fuse: (Linear | null)[];
  /** The stream every dropout mask of this adapter comes from. */
  readonly dropoutRng: DropoutRng;

  constructor(readonly config: AdapterConfig, seed: number) {
    super();
    const rng = new Rng(seed);
    this.dropoutRng = new DropoutRng(rng.fork());
    this.layers = config.adapterList.map((_, i) =>
      this.child(`adapter.${i}`, new AdapterLayer(config, rng, this.dropoutRng))
    );
    this.fuse = config.adapterList.map((_, i) => {
      if (config.combine !== "concat" || i === 0) return null;
      const h = config.hidden, fuse = withoutInit(() => new Linear(2 * h, h, rng));
      torchDefaults(fuse, rng);
      return this.child(`fuse.${i}`, fuse);
    });
  }

  /**
   * states[i] = hidden_states[adapterList[i]] [batch, seq, H] (FrozenRoberta.hiddenStates
   * with keep = adapterList gives them in this order; f16 states are cast to f32). `mask` is
   * the encoder's additive mask [batch, 1, 1, seq], read in "padding" mode only. Returns the
   * last adapter layer's output [batch, seq, H].
   */
  forward(states: Tensor[], mask: Tensor | null = null): Tensor {
    const c = this.config;
    if (states.length !== this.layers.length) {
      throw new Error(
        `adapter model needs ${this.layers.length} hidden states, got ${states.length}`,
      );
    }
    if (c.mask === "padding" && mask === null) {
      throw new Error('adapter mask "padding" needs the attention mask');
    }
    const m = c.mask === "padding" ? mask : null;
    let prev: Tensor | null = null;
    for (const [i, layer] of this.layers.entries()) {
      const h = states[i].dtype === "f32" ? states[i] : cast(states[i], "f32");
      const x: Tensor = prev === null
        ? h
        : c.combine === "sum"
        ? add(h, prev)
        : this.fuse[i]!.forward(concat([h, prev], 2));
      prev = layer.forward(x, m);
    }
    return prev!;
  }
}

// The post-LN BERT/RoBERTa encoder layer: attention, then the feed-forward block
// (intermediate.dense -> exact GELU -> output.dense -> dropout -> residual -> LayerNorm).
import { checkpoint, type DropoutRng, linearGelu, type Tensor } from "../tensor/mod.ts";
import { Attention } from "./attention.ts";
import type { TransformerConfig } from "./config.ts";
import type { Rng } from "./init.ts";
import { Linear } from "./linear.ts";
import { Module } from "./module.ts";
import { ResidualOutput } from "./output.ts";

/** `intermediate`: the widening projection and its activation. */
class Intermediate extends Module {
  readonly dense: Linear;
  constructor(cfg: TransformerConfig, rng: Rng) {
    super();
    this.dense = this.child("dense", new Linear(cfg.hidden, cfg.intermediate, rng, cfg.initRange));
  }
  forward(x: Tensor): Tensor {
    // dense then GELU, fused into one product (see linearGelu).
    return linearGelu(x, this.dense.weight, this.dense.bias);
  }
}

export class TransformerLayer extends Module {
  readonly attention: Attention;
  readonly intermediate: Intermediate;
  /** `output`: like the attention's output block, from the intermediate width. */
  readonly output: ResidualOutput;
  /**
   * Activation recomputation: keep only the layer's input for backward and re-run the layer
   * there (see checkpoint), trading about one more forward for the layer's activations.
   */
  recompute = false;

  constructor(cfg: TransformerConfig, rng: Rng, readonly drop: DropoutRng) {
    super();
    this.attention = this.child("attention", new Attention(cfg, rng, drop));
    this.intermediate = this.child("intermediate", new Intermediate(cfg, rng));
    this.output = this.child("output", new ResidualOutput(cfg, rng, drop, cfg.intermediate));
  }

  /** x [batch, seq, hidden], mask [batch, 1, 1, seq] additive (or null). */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const run = (h: Tensor) => {
      const a = this.attention.forward(h, mask);
      return this.output.forward(this.intermediate.forward(a), a);
    };
    if (!this.recompute) return run(x);
    return checkpoint(run, [x], { params: this.parameters(), rngs: [this.drop] });
  }
}

/** `encoder`: a stack of layers named `layer.0`, `layer.1`, ... */
export class Encoder extends Module {
  readonly layers: TransformerLayer[];

  constructor(cfg: TransformerConfig, count: number, rng: Rng, drop: DropoutRng) {
    super();
    this.layers = Array.from(
      { length: count },
      (_, i) => this.child(`layer.${i}`, new TransformerLayer(cfg, rng, drop)),
    );
  }

  /** Turns activation recomputation on or off in every layer. */
  setRecompute(on: boolean): this {
    for (const l of this.layers) l.recompute = on;
    return this;
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h, mask), x);
  }
}

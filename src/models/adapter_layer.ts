// One K-Adapter adapter layer: out = x + up_project(encoder(down_project(x))), with the
// released checkpoints' names (`down_project`, `encoder.layer.j.*`, `up_project`).
import { add, type DropoutRng, type Tensor } from "../tensor/mod.ts";
import { type Rng, withoutInit } from "../nn/init.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { Encoder } from "../nn/transformer.ts";
import { type AdapterConfig, innerConfig } from "./adapter_config.ts";

/**
 * Re-initialises a module built under withoutInit as PyTorch's defaults do, which is how the
 * code leaves its adapter's inner layers and pretraining heads (plain nn.Modules, no BERT
 * init): Linear weight and bias U(-1/sqrt(in), 1/sqrt(in)), LayerNorm 1 and 0.
 */
export function torchDefaults(m: Module, rng: Rng): void {
  const params = new Map(m.namedParameters());
  for (const [name, t] of params) {
    let values: Float32Array;
    if (/LayerNorm\.(weight|bias)$/.test(name)) {
      values = new Float32Array(t.size).fill(name.endsWith("weight") ? 1 : 0);
    } else {
      // A bare Linear's bias is "bias"; a child's is "<child>.bias".
      const w = /(^|\.)bias$/.test(name) ? params.get(name.replace(/bias$/, "weight"))! : t;
      const bound = 1 / Math.sqrt(w.shape[1]);
      values = Float32Array.from({ length: t.size }, () => (2 * rng.next() - 1) * bound);
    }
    t.write(values);
  }
}

export class AdapterLayer extends Module {
  readonly down_project: Linear;
  readonly encoder: Encoder;
  readonly up_project: Linear;

  /** down/up weights N(0, initStd^2) and zero biases, so the layer starts near identity. */
  constructor(c: AdapterConfig, rng: Rng, drop: DropoutRng) {
    super();
    this.down_project = this.child(
      "down_project",
      new Linear(c.hidden, c.adapterHidden, rng, c.initStd),
    );
    const encoder = withoutInit(() => new Encoder(innerConfig(c), c.layers, rng, drop));
    torchDefaults(encoder, rng);
    this.encoder = this.child("encoder", encoder);
    this.up_project = this.child(
      "up_project",
      new Linear(c.adapterHidden, c.hidden, rng, c.initStd),
    );
  }

  /** x [batch, seq, hidden]; mask [batch, 1, 1, seq] additive, or null to attend everywhere. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    return add(
      x,
      this.up_project.forward(this.encoder.forward(this.down_project.forward(x), mask)),
    );
  }
}

// LayerNorm over the last axis (`weight` = gain, `bias`), as BERT and RoBERTa name them.
import { layerNorm, type Tensor } from "../tensor/mod.ts";
import { constant } from "./init.ts";
import { Module } from "./module.ts";

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly features: number, readonly eps = 1e-5) {
    super();
    // f32 even in a model of f16 weights: they are few, and layer norm computes in f32.
    this.weight = this.param("weight", constant([features], 1, "f32"));
    this.bias = this.param("bias", constant([features], 0, "f32"));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

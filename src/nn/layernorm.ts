// LayerNorm over the last axis (`weight` = gain, `bias`), as BERT and RoBERTa name them.
import { layerNorm, type Tensor } from "../tensor/mod.ts";
import { constant } from "./init.ts";
import { Module } from "./module.ts";

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly features: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param("weight", constant([features], 1));
    this.bias = this.param("bias", constant([features], 0));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

// Linear layer with PyTorch's [out, in] weight layout (`weight`, `bias`).
import { linear, type Tensor } from "../tensor/mod.ts";
import { constant, normal, type Rng, torchLinearInit } from "./init.ts";
import { Module } from "./module.ts";

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  /** With `std`, BERT's init (normal weight, zero bias); without, PyTorch's default. */
  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Rng, std?: number) {
    super();
    const init = std === undefined ? torchLinearInit(rng, inFeatures, outFeatures) : {
      weight: normal(rng, [outFeatures, inFeatures], std),
      bias: constant([outFeatures], 0),
    };
    this.weight = this.param("weight", init.weight);
    this.bias = this.param("bias", init.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

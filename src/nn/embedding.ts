// Embedding table [count, dim] (`weight`), looked up by i32 ids.
import { embedding, type Tensor } from "../tensor/mod.ts";
import { normal, type Rng } from "./init.ts";
import { Module } from "./module.ts";

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly count: number, readonly dim: number, rng: Rng, std: number) {
    super();
    this.weight = this.param("weight", normal(rng, [count, dim], std));
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

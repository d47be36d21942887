// Dropout as a module: active in train mode only. All dropouts of a model share one
// DropoutRng, so a seed fixes every mask of a run.
import { dropout, type DropoutRng, type Tensor } from "../tensor/mod.ts";
import { Module } from "./module.ts";

export class Dropout extends Module {
  constructor(readonly p: number, readonly rng: DropoutRng) {
    super();
  }

  /** In eval mode (or with p = 0) returns x itself. */
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? dropout(x, this.p, this.rng) : x;
  }
}

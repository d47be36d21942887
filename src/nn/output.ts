// The block that closes attention and feed-forward alike (HF's BertSelfOutput and
// BertOutput): dense -> dropout -> add residual -> LayerNorm (post-LN), the last three as
// one fused op (residualLayerNorm) unless setResidualNormFused(false) asks for the
// separate ones.
import {
  add,
  type DropoutRng,
  residualLayerNorm,
  residualNormFused,
  type Tensor,
} from "../tensor/mod.ts";
import type { TransformerConfig } from "./config.ts";
import { Dropout } from "./dropout.ts";
import type { Rng } from "./init.ts";
import { LayerNorm } from "./layernorm.ts";
import { Linear } from "./linear.ts";
import { Module } from "./module.ts";

export class ResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(cfg: TransformerConfig, rng: Rng, drop: DropoutRng, inFeatures = cfg.hidden) {
    super();
    this.dense = this.child("dense", new Linear(inFeatures, cfg.hidden, rng, cfg.initRange));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(cfg.hidden, cfg.layerNormEps));
    this.dropout = this.child("dropout", new Dropout(cfg.hiddenDropout, drop));
  }

  forward(x: Tensor, residual: Tensor): Tensor {
    const h = this.dense.forward(x);
    const same = h.dtype === residual.dtype && h.shape.join() === residual.shape.join();
    if (!residualNormFused() || !same) {
      return this.LayerNorm.forward(add(this.dropout.forward(h), residual));
    }
    const { p, rng, training } = this.dropout;
    const ln = this.LayerNorm;
    return residualLayerNorm(h, residual, ln.weight, ln.bias, ln.eps, training ? { p, rng } : null);
  }
}

// AdamW with global gradient-norm clipping. The norm and the clip factor stay on the GPU,
// so a step needs no readback; the norm is returned for logging and NaN checks.
import {
  adamwUpdateAll,
  keep,
  mapRaw,
  sumOfSquares,
  type Tensor,
  tidy,
  zeros,
} from "../tensor/mod.ts";

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this value (0 or undefined: no clipping). */
  maxGradNorm?: number;
  /**
   * For named parameters: which get no weight decay. Default: biases and LayerNorm weights,
   * as transformers' and the K-Adapter scripts' optimizer groups do.
   */
  noDecay?: (name: string) => boolean;
}

/** transformers' usual no-decay group: biases and LayerNorm weights. */
export const defaultNoDecay = (name: string) =>
  name.endsWith("bias") || /layer_?norm\.weight$/i.test(name);

/** sqrt(sum of squares) over all gradients, as a [1] tensor (src/tensor/kernels/reduce.ts). */
export function globalGradNorm(grads: Tensor[]): Tensor {
  return tidy(() => mapRaw("sqrt", "sqrt(a)", sumOfSquares(grads)));
}

export class AdamW {
  readonly params: Tensor[];
  readonly m: Tensor[];
  readonly v: Tensor[];
  step = 0;
  /** Whether each parameter gets weight decay. */
  readonly decays: boolean[];
  readonly opts: Required<AdamWOptions>;

  /** Plain tensors all get weight decay; named ones ([name, tensor]) follow `noDecay`. */
  constructor(params: Tensor[] | (readonly [string, Tensor])[], opts: AdamWOptions) {
    this.opts = {
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      maxGradNorm: 0,
      noDecay: defaultNoDecay,
      ...opts,
    };
    const named = params.map((p) => (Array.isArray(p) ? p : ["", p]) as readonly [string, Tensor]);
    this.params = named.map(([, t]) => t);
    this.decays = named.map(([n]) => n === "" || !this.opts.noDecay(n));
    for (const p of this.params) {
      if (p.dtype !== "f32" || !p.isContiguous() || p.offset !== 0) {
        throw new Error(`AdamW needs dense f32 parameters; ${p.name || p} is not`);
      }
    }
    this.m = this.params.map((p) => keep(zeros(p.shape)));
    this.v = this.params.map((p) => keep(zeros(p.shape)));
  }

  /**
   * Applies one update with learning rate `lr` (from the schedule) to every parameter that
   * has a gradient; returns the gradient norm before clipping ([1] tensor, caller disposes).
   */
  update(lr = this.opts.lr): Tensor {
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.opts;
    this.step++;
    const bc1 = 1 - beta1 ** this.step, bc2 = 1 - beta2 ** this.step;
    const withGrad = this.params.map((p, i) => [p, i] as const).filter(([p]) => p.grad);
    const norm = keep(globalGradNorm(withGrad.map(([p]) => p.grad!)));
    const items = withGrad.map(([p, i]) => ({
      p,
      g: p.grad!,
      m: this.m[i],
      v: this.v[i],
      weightDecay: this.decays[i] ? weightDecay : 0,
    }));
    adamwUpdateAll(items, norm, { lr, beta1, beta2, eps, bc1, bc2, maxGradNorm });
    return norm;
  }

  /** Drops every gradient (their buffers go back to the pool). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

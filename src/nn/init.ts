// Seeded parameter initialisation on the CPU: the same seed gives the same weights on
// every machine and adapter, so runs are reproducible end to end.
import { Tensor } from "../tensor/mod.ts";

/** A small seeded PRNG (mulberry32) with a Box-Muller normal sampler. */
export class Rng {
  #state: number;
  #spare: number | null = null;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal. */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    // 1 - next() lies in (0, 1], so the log is finite.
    const r = Math.sqrt(-2 * Math.log(1 - this.next())), a = 2 * Math.PI * this.next();
    this.#spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A seed for a sub-stream (dropout, shuffling) derived from this one. */
  fork(): number {
    return Math.floor(this.next() * 2 ** 32);
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

let skip = false;
/**
 * Builds a model whose weights are about to be overwritten (loading a checkpoint): the init
 * functions then hand out uninitialised tensors instead of sampling (30 s for roberta-large).
 */
export function withoutInit<T>(build: () => T): T {
  skip = true;
  try {
    return build();
  } finally {
    skip = false;
  }
}

/** A tensor of `shape` with values from `value(i)`, or uninitialised inside withoutInit. */
function filled(shape: readonly number[], value: () => number): Tensor {
  if (skip) return Tensor.empty(shape, "f32", "parameter");
  return Tensor.from(Float32Array.from({ length: size(shape) }, value), shape);
}

/** Samples of N(0, std^2) as a new tensor. */
export function normal(rng: Rng, shape: readonly number[], std: number): Tensor {
  return filled(shape, () => rng.normal() * std);
}

/** Samples of U(-bound, bound) as a new tensor. */
export function uniform(rng: Rng, shape: readonly number[], bound: number): Tensor {
  return filled(shape, () => (2 * rng.next() - 1) * bound);
}

/** A tensor filled with `value` (zero biases, unit LayerNorm gains). */
export function constant(shape: readonly number[], value: number): Tensor {
  return filled(shape, () => value);
}

/**
 * PyTorch's default nn.Linear init: kaiming_uniform(a=sqrt(5)) for the weight, which is
 * U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias.
 */
export function torchLinearInit(rng: Rng, inFeatures: number, outFeatures: number) {
  const bound = 1 / Math.sqrt(inFeatures);
  return {
    weight: uniform(rng, [outFeatures, inFeatures], bound),
    bias: uniform(rng, [outFeatures], bound),
  };
}

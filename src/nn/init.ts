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

/** Inside withoutInit: the type of the uninitialised weights handed out. */
let skip: "f32" | "f16" | null = null;
/**
 * Builds a model whose weights are about to be overwritten (loading a checkpoint): the init
 * functions then hand out uninitialised tensors instead of sampling (30 s for roberta-large).
 * With `dtype` f16 (a forward-only encoder), every weight is f16 except those made with an
 * explicit f32 (LayerNorm's).
 */
export function withoutInit<T>(build: () => T, dtype: "f32" | "f16" = "f32"): T {
  const outer = skip;
  skip = dtype;
  try {
    return build();
  } finally {
    skip = outer;
  }
}

/**
 * A tensor of `shape` with values from `value(i)`, or uninitialised inside withoutInit (of
 * `dtype` when given, else of withoutInit's type).
 */
function filled(shape: readonly number[], value: () => number, dtype?: "f32"): Tensor {
  if (skip) return Tensor.empty(shape, dtype ?? skip, "parameter");
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

/**
 * A tensor filled with `value` (zero biases, unit LayerNorm gains); `dtype` f32 keeps it f32
 * in a model built with f16 weights.
 */
export function constant(shape: readonly number[], value: number, dtype?: "f32"): Tensor {
  return filled(shape, () => value, dtype);
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

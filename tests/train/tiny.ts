// A tiny classifier on synthetic data for the training-loop tests: Linear(6 -> 3) after
// input dropout, trained on 32 seeded random examples.
import { Rng } from "../../src/nn/init.ts";
import { Linear } from "../../src/nn/linear.ts";
import { crossEntropy, dropout, DropoutRng, Tensor } from "../../src/tensor/mod.ts";

export const IN = 6, CLASSES = 3, EXAMPLES = 32;

export interface Batch {
  x: Tensor;
  y: Tensor;
}

export function tinySetup(seed: number, p: number) {
  const rng = new Rng(seed);
  const model = new Linear(IN, CLASSES, rng);
  const xs = Array.from({ length: EXAMPLES * IN }, () => rng.normal());
  const ys = Array.from({ length: EXAMPLES }, () => rng.int(CLASSES));
  const drop = new DropoutRng(seed ^ 0x1234);
  return {
    model,
    drop,
    params: model.namedParameters(),
    makeBatch: (idx: number[]): Batch => ({
      x: Tensor.from(idx.flatMap((i) => xs.slice(i * IN, (i + 1) * IN)), [idx.length, IN]),
      y: Tensor.from(idx.map((i) => ys[i]), [idx.length], "i32"),
    }),
    loss: (b: Batch) => crossEntropy(model.forward(p > 0 ? dropout(b.x, p, drop) : b.x), b.y),
  };
}

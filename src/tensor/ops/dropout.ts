// Dropout: same seed and call counter, same mask (resumable, reproducible training).
import { elementKernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { contiguous } from "./shape.ts";
import src from "../../../shaders/dropout.wgsl" with { type: "text" };

/** Seed and call counter of the dropout stream; the counter is saved in checkpoints. */
export class DropoutRng {
  constructor(public seed: number, public counter = 0) {}
}

function apply(x: Tensor, p: number, seed: number, counter: number): Tensor {
  const xc = contiguous(x);
  const y = Tensor.empty(x.shape, x.dtype, "dropout");
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  dispatch(
    elementKernel("dropout", src, { T: x.dtype }),
    [
      { buffer: xc.buffer, what: "input" },
      { buffer: y.buffer, what: "output" },
    ],
    [x.size, seed >>> 0, counter >>> 0, threshold, f32bits(1 / (1 - p)), xc.offset],
    Math.ceil(x.size / 256),
  );
  xc.dispose();
  return y;
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, rng: DropoutRng): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability ${p} not in [0, 1)`);
  if (p === 0) return contiguous(x);
  const seed = rng.seed, counter = rng.counter++;
  return record(apply(x, p, seed, counter), [x], (g) => [apply(g, p, seed, counter)]);
}

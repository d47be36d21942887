// Row-wise ops at the transformer's activation shape: softmax, layer norm, and an add of two
// such tensors (the residual).
import { sync } from "../src/gpu/queue.ts";
import { add, layerNorm, ones, softmax, type Tensor, tidy, zeros } from "../src/tensor/mod.ts";
import type { Run } from "./timing.ts";

export interface OpCase {
  name: string;
  /** Bytes of each operand read once and the output written once (the traffic floor). */
  bytes: number;
  prepare(x: Tensor): Run;
}

function timed(make: () => Tensor): Run["run"] {
  return async () => {
    const y = tidy(make);
    await sync();
    y.dispose();
  };
}

export function opCases(rows: number, cols: number): OpCase[] {
  const io = 2 * rows * cols * 4;
  return [
    {
      name: "softmax",
      bytes: io,
      prepare: (x) => ({ run: timed(() => softmax(x)), dispose: () => {} }),
    },
    {
      name: "layerNorm",
      bytes: io,
      prepare: (x) => {
        const gamma = ones([cols]), beta = zeros([cols]);
        return {
          run: timed(() => layerNorm(x, gamma, beta)),
          dispose: () => {
            gamma.dispose();
            beta.dispose();
          },
        };
      },
    },
    {
      name: "add",
      bytes: 3 * rows * cols * 4,
      prepare: (x) => {
        const y = tidy(() => add(x, ones([rows, cols])));
        return { run: timed(() => add(x, y)), dispose: () => y.dispose() };
      },
    },
  ];
}

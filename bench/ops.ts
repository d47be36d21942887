// Row-wise ops at the transformer's activation shape: softmax and layer norm.
import { sync } from "../src/gpu/queue.ts";
import { layerNorm, ones, softmax, type Tensor, tidy, zeros } from "../src/tensor/mod.ts";
import type { Run } from "./timing.ts";

export interface OpCase {
  name: string;
  /** Bytes read and written once each (the traffic floor). */
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
  ];
}

// The same matmuls through TensorFlow.js's WebGPU backend and jax-js's webgpu device, on
// the default adapter (the one kadapter uses). Each peer waits for its own result.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
import { defaultDevice, init, numpy as np } from "@jax-js/jax";
import type { MatmulCase, Operands } from "./matmul.ts";
import type { Run } from "./timing.ts";

export interface Peer {
  name: string;
  prepare(c: MatmulCase, d: Operands): Run;
}

/** TensorFlow.js on its WebGPU backend, or null when that backend does not start. */
export async function tfjs(): Promise<Peer | null> {
  try {
    if (!(await tf.setBackend("webgpu"))) return null;
    await tf.ready();
  } catch {
    return null;
  }
  return {
    name: "tfjs",
    prepare(c, d) {
      const x = tf.tensor2d(d.a, [c.m, c.k]);
      const w = tf.tensor2d(d.b, c.linear ? [c.n, c.k] : [c.k, c.n]);
      return {
        run: async () => {
          const y = tf.matMul(x, w, false, c.linear);
          // Reading one element waits for the product without timing a full download.
          const corner = tf.slice(y, [0, 0], [1, 1]);
          await corner.data();
          tf.dispose([y, corner]);
        },
        dispose: () => tf.dispose([x, w]),
      };
    },
  };
}

/** jax-js on its webgpu device, or null when that device is missing. */
export async function jaxjs(): Promise<Peer | null> {
  try {
    if (!(await init()).includes("webgpu")) return null;
    defaultDevice("webgpu");
  } catch {
    return null;
  }
  return {
    name: "jax-js",
    prepare(c, d) {
      const x = np.array(d.a, { shape: [c.m, c.k], device: "webgpu" });
      const w = np.array(d.b, { shape: c.linear ? [c.n, c.k] : [c.k, c.n], device: "webgpu" });
      return {
        run: async () => {
          // jax-js consumes its arguments: .ref keeps x and w alive across runs.
          const y = np.matmul(x.ref, c.linear ? np.transpose(w.ref) : w.ref);
          await y.blockUntilReady();
          y.dispose();
        },
        dispose: () => {
          x.dispose();
          w.dispose();
        },
      };
    },
  };
}

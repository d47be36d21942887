// Gradient check: the GPU gradient of L = sum(f(x) * R), R a fixed random tensor (so every
// output element matters), against central finite differences of the float64 reference
// (never of the GPU op, whose f32 rounding would swamp the differences). FD costs two
// reference evaluations per input element: keep shapes tiny.
import assert from "node:assert/strict";
import { backward, mul, sumAll, type Tensor } from "../src/tensor/mod.ts";
import type { Nd } from "./reference.ts";
import { assertClose, type Rng, run, type Tol, up } from "./setup.ts";

export interface GradcheckOptions {
  /** Float inputs; each becomes an f32 leaf tensor. */
  inputs: Nd[];
  /** Indices of inputs that get no gradient (masks, targets). */
  constant?: number[];
  gpu: (...xs: Tensor[]) => Tensor;
  ref: (...xs: Nd[]) => Nd;
  rng: Rng;
  /** Forward tolerance (default atol 1e-5, rtol 1e-4: f32 rounding of O(1) values). */
  fwd?: Tol;
  /** Gradient tolerance (default atol 2e-6, rtol 2e-5: f32 gradients vs f64 FD). */
  grad?: Tol;
  /** FD step (default 1e-6: the reference is float64, so truncation error is ~h^2). */
  h?: number;
  what?: string;
}

export async function gradcheck(o: GradcheckOptions): Promise<void> {
  const what = o.what ?? "gradcheck";
  const constant = new Set(o.constant ?? []);
  const y0 = o.ref(...o.inputs);
  const r = o.rng.randn(y0.shape);
  const loss = (xs: Nd[]) => {
    const y = o.ref(...xs);
    let s = 0;
    y.data.forEach((v, i) => (s += v * r.data[i]));
    return s;
  };
  const wanted = o.inputs.map((_, i) => i).filter((i) => !constant.has(i));
  const shapes: number[][] = [];
  const [y, ...grads] = await run(() => {
    const xs = o.inputs.map((x, i) => {
      const t = up(x);
      t.requiresGrad = !constant.has(i);
      return t;
    });
    const out = o.gpu(...xs);
    assert.deepEqual([...out.shape], y0.shape, `${what}: output shape`);
    backward(sumAll(mul(out, up(r))));
    const gs = wanted.map((i) => {
      const g = xs[i].grad;
      if (!g) throw new Error(`${what}: no gradient reached input ${i}`);
      shapes.push([...g.shape]);
      return g;
    });
    for (const [i, x] of xs.entries()) if (constant.has(i)) assert.equal(x.grad, null);
    return [out, ...gs];
  });
  assertClose(y, y0, o.fwd ?? { atol: 1e-5, rtol: 1e-4 }, `${what}: forward`);
  const h = o.h ?? 1e-6;
  wanted.forEach((idx, k) => {
    assert.deepEqual(shapes[k], o.inputs[idx].shape, `${what}: gradient shape of input ${idx}`);
    const fd = new Float64Array(o.inputs[idx].data.length);
    for (let e = 0; e < fd.length; e++) {
      const at = (d: number) => {
        const xs = o.inputs.map((x, i) =>
          i === idx ? { shape: x.shape, data: x.data.map((v, j) => (j === e ? v + d : v)) } : x
        );
        return loss(xs);
      };
      fd[e] = (at(h) - at(-h)) / (2 * h);
    }
    assertClose(grads[k], fd, o.grad ?? { atol: 2e-6, rtol: 2e-5 }, `${what}: d/d input ${idx}`);
  });
}

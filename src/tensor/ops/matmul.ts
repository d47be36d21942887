// Matrix products with autograd: matmul (batched, operands may be transposed views), linear
// (x @ W^T + b with the bias fused) and linearGelu (the GELU fused too); the kernels are in
// kernels/matmul.ts.
import { gradEnabled, record } from "../autograd.ts";
import { mapRaw } from "../kernels/elementwise.ts";
import { matmulGeluRaw, matmulRaw } from "../kernels/matmul.ts";
import { sumTo } from "../kernels/reduce.ts";
import type { Tensor } from "../tensor.ts";
import { gelu, mulScalar } from "./elementwise.ts";
import { reshape, transpose } from "./shape.ts";
import { sum } from "./reduce.ts";

/**
 * alpha * (a @ b) with autograd; operands may be transposed views (no copy is made for them).
 * alpha scales inside the product, before the output is rounded to its dtype (f16 scores).
 */
export function matmul(a: Tensor, b: Tensor, alpha = 1): Tensor {
  return record(matmulRaw(a, b, null, alpha), [a, b], (g) => {
    // Scaling the gradient first gives mulScalar(matmul(a, b), alpha)'s gradients bit for bit.
    const gs = alpha === 1 ? g : mulScalar(g, alpha);
    const grads = [
      a.requiresGrad ? gradLhs(gs, b, a.shape) : null,
      b.requiresGrad ? gradRhs(a, gs, b.shape) : null,
    ];
    if (gs !== g) gs.dispose();
    return grads;
  });
}

/** dA = g @ B^T, summed back to A's shape when A was broadcast. */
function gradLhs(g: Tensor, b: Tensor, shape: readonly number[]): Tensor {
  const bt = transpose(b);
  const d = matmulRaw(g, bt);
  bt.dispose();
  if (d.rank === shape.length) return d;
  const r = sumTo(d, shape);
  d.dispose();
  return r;
}

/** dB = A^T @ g; when B was shared across a batch, the batch folds into the product. */
function gradRhs(a: Tensor, g: Tensor, shape: readonly number[]): Tensor {
  if (shape.length === 2 && a.rank > 2) {
    const a2 = reshape(a, [-1, a.shape[a.rank - 1]]);
    const g2 = reshape(g, [-1, g.shape[g.rank - 1]]);
    const a2t = transpose(a2);
    const d = matmulRaw(a2t, g2);
    for (const t of [a2, g2, a2t]) t.dispose();
    return d;
  }
  const at = transpose(a);
  const d = matmulRaw(at, g);
  at.dispose();
  if (d.rank === shape.length) return d;
  const r = sumTo(d, shape);
  d.dispose();
  return r;
}

/** y = x @ W^T + bias, with W in PyTorch's [out, in] layout and the bias add fused. */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  const wt = transpose(w);
  const y = matmulRaw(x, wt, bias);
  wt.dispose();
  return record(y, bias ? [x, w, bias] : [x, w], (g) => linearGrads(x, w, bias, g));
}

let geluEpilogue = true;
/** Runs linearGelu as the fused epilogue (true, the default) or as gelu(linear(...)). */
export function setGeluEpilogue(on: boolean): void {
  geluEpilogue = on;
}

/**
 * gelu(x @ W^T + bias), the exact GELU computed in the product's epilogue: one kernel
 * instead of two, and the pre-activation it keeps for backward is written by the same pass.
 */
export function linearGelu(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  if (!geluEpilogue) return gelu(linear(x, w, bias));
  const inputs = bias ? [x, w, bias] : [x, w];
  // Inference (the frozen encoder) keeps no pre-activation.
  const keepPre = gradEnabled() && inputs.some((t) => t.requiresGrad);
  const wt = transpose(w);
  const [y, pre] = matmulGeluRaw(x, wt, bias, keepPre);
  wt.dispose();
  if (!pre) return y;
  return record(y, inputs, (g) => {
    // gelu's own backward map, then linear's.
    const dpre = mapRaw("gelu_grad", "b * gelu_grad(a)", pre, g);
    const grads = linearGrads(x, w, bias, dpre);
    dpre.dispose();
    return grads;
  });
}

/** linear's gradients [dx, dW, db] for the output gradient g. */
function linearGrads(x: Tensor, w: Tensor, bias: Tensor | null, g: Tensor) {
  const dx = x.requiresGrad ? matmulRaw(g, w) : null;
  let dw: Tensor | null = null;
  if (w.requiresGrad) {
    const g2 = reshape(g, [-1, g.shape[g.rank - 1]]);
    const x2 = reshape(x, [-1, x.shape[x.rank - 1]]);
    const g2t = transpose(g2);
    dw = matmulRaw(g2t, x2);
    for (const t of [g2, x2, g2t]) t.dispose();
  }
  let db: Tensor | null = null;
  if (bias?.requiresGrad) {
    const g2 = reshape(g, [-1, g.shape[g.rank - 1]]);
    db = sum(g2, 0);
    g2.dispose();
  }
  return [dx, dw, db];
}

// The matrix product kernel launch, recording no gradient: shape checks, batch folding, and
// K split into several dispatches where the adapter caps loop iterations.
import { gpu } from "../../gpu/device.ts";
import type { Kernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { type DType, numel, Tensor } from "../tensor.ts";
import { contiguousRaw, reshapeRaw } from "./shape.ts";
import { type MatmulVariant, matmulVariant } from "./matmul_variants.ts";
import { type Operand, operand, regKernel, tiledKernel } from "./matmul_wgsl.ts";

// llvmpipe stops a shader invocation's loops after 65,535 iterations in total (all loops
// together; loops it unrolls do not count), so on software adapters a long K runs as
// several dispatches, the later ones adding to C. The reg kernel's only loop is over K.
const LOOP_CAP = 65535;

/** K per dispatch of the tiled kernel under the cap, counting every loop iteration. */
function tiledKChunk(v: MatmulVariant): number {
  const perK16 = 1 + v.tm + v.tn + 16 * (1 + v.tm + v.tn + v.tm * (1 + v.tn));
  const once = v.tm * v.tn + v.tm * (1 + v.tn);
  return Math.floor((LOOP_CAP - once) / perK16) * 16;
}

/** Records C[batch] = alpha * A @ B (+ bias[n]) into the dense tensor `out`. */
function matmulInto(
  out: Tensor,
  a: Operand,
  b: Operand,
  batch: number,
  m: number,
  n: number,
  k: number,
  bias: Tensor | null,
  alpha: number,
): void {
  const v = matmulVariant(m, n, batch);
  const capped = gpu().isSoftware;
  for (let k0 = 0; k0 === 0 || k0 < k;) {
    const first = k0 === 0, b_ = first ? bias : null;
    let kernel_: Kernel, kChunk: number;
    if (v.kind === "reg") {
      const r = regKernel(v, a, b, out, k, b_, !first);
      kernel_ = r.kernel;
      kChunk = capped ? LOOP_CAP * r.kStep : k;
    } else {
      kernel_ = tiledKernel(v, a, b, out, b_, !first);
      kChunk = capped ? tiledKChunk(v) : k;
    }
    const kc = Math.min(kChunk, k - k0);
    const bind = [
      { buffer: a.t.buffer, what: "matmul A" },
      { buffer: b.t.buffer, what: "matmul B" },
    ];
    if (b_) bind.push({ buffer: b_.buffer, what: "bias" });
    bind.push({ buffer: out.buffer, what: "matmul output" });
    const params = [
      m,
      n,
      kc,
      a.off + k0 * a.s1,
      a.sb,
      a.s0,
      a.s1,
      b.off + k0 * b.s0,
      b.sb,
      b.s0,
      b.s1,
      b_?.offset ?? 0,
      f32bits(alpha),
      m * n,
    ];
    const grid: [number, number, number] = [
      Math.ceil(n / (v.wx * v.tn)),
      Math.ceil(m / (v.wy * v.tm)),
      batch,
    ];
    dispatch(kernel_, bind, params, grid);
    k0 += kc;
  }
}

/** Output dtype of a product: f16 only when both operands are f16. */
function productType(a: Tensor, b: Tensor): DType {
  return a.dtype === "f16" && b.dtype === "f16" ? "f16" : "f32";
}

/** Dense 3-D-able view for a batched operand (the kernel takes one batch stride). */
function batched3(t: Tensor): Tensor {
  const c = t.rank === 3 ? t.view(t.shape, t.strides, t.offset) : null;
  if (c) return c;
  const d = contiguousRaw(t);
  const r = reshapeRaw(d, [numel(t.shape.slice(0, -2)), t.shape[t.rank - 2], t.shape[t.rank - 1]]);
  d.dispose();
  return r;
}

/**
 * alpha * (a @ b) + bias, recording no gradient. a: [..., M, K], b: [..., K, N] (either may
 * be 2-D).
 */
export function matmulRaw(a: Tensor, b: Tensor, bias: Tensor | null = null, alpha = 1): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error("matmul needs operands of rank >= 2");
  const m = a.shape[a.rank - 2], k = a.shape[a.rank - 1];
  const k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1];
  if (k !== k2) throw new Error(`matmul shapes [${a.shape}] @ [${b.shape}]: inner sizes differ`);
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  if (aBatch.length && bBatch.length && aBatch.join() !== bBatch.join()) {
    throw new Error(`matmul batch shapes [${aBatch}] and [${bBatch}] differ`);
  }
  const batchShape = aBatch.length ? aBatch : bBatch;
  const batch = numel(batchShape);
  const out = Tensor.empty([...batchShape, m, n], productType(a, b), "matmul");
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new Error(`bias [${bias.shape}] does not match ${n} output columns`);
  }
  const bOp = bBatch.length ? batched3(b) : b;
  if (aBatch.length && !bBatch.length && a.isContiguous()) {
    // Fold the batch into the rows: one big [batch*M, K] @ [K, N].
    matmulInto(out, operand(a, false), operand(bOp, false), 1, batch * m, n, k, bias, alpha);
  } else {
    const aOp = aBatch.length ? batched3(a) : a;
    matmulInto(
      out,
      operand(aOp, aBatch.length > 0),
      operand(bOp, bBatch.length > 0),
      batch,
      m,
      n,
      k,
      bias,
      alpha,
    );
    if (aOp !== a) aOp.dispose();
  }
  if (bOp !== b) bOp.dispose();
  return out;
}

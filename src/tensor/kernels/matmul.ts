// The matrix product kernel launch, recording no gradient: shape checks, batch folding,
// split-K (slices of K side by side, then summed) for small outputs over a long K, K split
// into several dispatches where the adapter caps loop iterations, the GELU epilogue.
import { gpu } from "../../gpu/device.ts";
import type { Kernel } from "../../gpu/kernel.ts";
import { dispatch, f32bits } from "../../gpu/queue.ts";
import { type DType, numel, Tensor } from "../tensor.ts";
import { contiguousRaw, reshapeRaw } from "./shape.ts";
import { matmulPlan, type MatmulVariant } from "./matmul_variants.ts";
import {
  type Gelu,
  type Operand,
  operand,
  regKernel,
  regKStep,
  splitSumKernel,
  tiledKernel,
} from "./matmul_wgsl.ts";

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

/**
 * Records C[batch] = alpha * A @ B (+ bias[n]) into the dense tensor `out`; with `gelu`,
 * C = gelu(that), and gelu.pre (if any) gets the value before GELU.
 */
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
  gelu: Gelu = null,
): void {
  const { variant: v, splits } = matmulPlan(m, n, k, batch);
  const capped = gpu().isSoftware;
  if (splits > 1 && splitKInto(v, out, a, b, m, n, k, bias, alpha, gelu, splits)) return;
  for (let k0 = 0; k0 === 0 || k0 < k;) {
    const first = k0 === 0, b_ = first ? bias : null;
    let kernel_: Kernel, kChunk: number;
    if (v.kind === "reg") {
      const r = regKernel(v, a, b, out, k, b_, !first, gelu);
      kernel_ = r.kernel;
      kChunk = capped ? LOOP_CAP * r.kStep : k;
    } else {
      kernel_ = tiledKernel(v, a, b, out, b_, !first, gelu);
      kChunk = capped ? tiledKChunk(v) : k;
    }
    const kc = Math.min(kChunk, k - k0);
    // The GELU epilogue needs the whole sum: long K goes through split-K instead.
    if (gelu && kc < k) {
      if (batch === 1 && splitKInto(v, out, a, b, m, n, k, bias, alpha, gelu, 1)) return;
      throw new Error(`matmul with GELU: K = ${k} is too long for one pass on this adapter`);
    }
    const bind = [
      { buffer: a.t.buffer, what: "matmul A" },
      { buffer: b.t.buffer, what: "matmul B" },
    ];
    if (b_) bind.push({ buffer: b_.buffer, what: "bias" });
    bind.push({ buffer: out.buffer, what: "matmul output" });
    if (gelu?.pre) bind.push({ buffer: gelu.pre.buffer, what: "pre-activation" });
    const params = productParams(m, n, kc, a, b, k0, b_, alpha);
    dispatch(kernel_, bind, [...params, kc, 0], gridOf(v, m, n, batch));
    k0 += kc;
  }
}

/** The product kernels' parameters 0-13 (see shaders/matmul_reg.wgsl), from K offset k0. */
function productParams(
  m: number,
  n: number,
  kc: number,
  a: Operand,
  b: Operand,
  k0: number,
  bias: Tensor | null,
  alpha: number,
): number[] {
  return [
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
    bias?.offset ?? 0,
    f32bits(alpha),
    m * n,
  ];
}

function gridOf(v: MatmulVariant, m: number, n: number, z: number): [number, number, number] {
  return [Math.ceil(n / (v.wx * v.tn)), Math.ceil(m / (v.wy * v.tm)), z];
}

/**
 * Split-K for an unbatched product: at least `splits` slices of K (more where the loop cap
 * needs them) run as the batch of one dispatch into f32 partial products, which a second
 * pass sums into `out` with the epilogue. False where it does not apply (a tiled variant,
 * n % 4 != 0, K = 0, or partial products too large for one binding).
 */
function splitKInto(
  v: MatmulVariant,
  out: Tensor,
  a: Operand,
  b: Operand,
  m: number,
  n: number,
  k: number,
  bias: Tensor | null,
  alpha: number,
  gelu: Gelu,
  splits: number,
): boolean {
  if (v.kind !== "reg" || n % 4 !== 0 || k === 0) return false;
  // Slices are a multiple of 4 long, so a vec4 layout stays one in every slice; the kernel
  // is chosen for the whole K (the last slice is what remains of it).
  const slicing = (kc: number) => ({
    kc,
    sa: { ...a, sb: kc * a.s1 },
    sb: { ...b, sb: kc * b.s0 },
  });
  let { kc, sa, sb } = slicing(Math.ceil(k / splits / 4) * 4);
  const kStep = regKStep(sa, sb, k);
  if (gpu().isSoftware && kc > LOOP_CAP * kStep) {
    ({ kc, sa, sb } = slicing(Math.floor(LOOP_CAP * kStep / 4) * 4));
  }
  const s = Math.ceil(k / kc);
  if (s * m * n * 4 > gpu().limits.maxStorageBufferBindingSize) return false;
  const part = Tensor.empty([s, m, n], "f32", "split-K partial products");
  const r = regKernel(v, sa, sb, part, k, null, false);
  const params = productParams(m, n, kc, sa, sb, 0, null, alpha);
  dispatch(
    r.kernel,
    [
      { buffer: a.t.buffer, what: "matmul A" },
      { buffer: b.t.buffer, what: "matmul B" },
      { buffer: part.buffer, what: "split-K partial products" },
    ],
    [...params, k, kc],
    gridOf(v, m, n, s),
  );
  const bind = [{ buffer: part.buffer, what: "split-K partial products" }];
  if (bias) bind.push({ buffer: bias.buffer, what: "bias" });
  bind.push({ buffer: out.buffer, what: "matmul output" });
  if (gelu?.pre) bind.push({ buffer: gelu.pre.buffer, what: "pre-activation" });
  const n4 = m * n / 4;
  dispatch(
    splitSumKernel(out, bias, gelu),
    bind,
    [n4, s, n, bias?.offset ?? 0],
    Math.ceil(n4 / 256),
  );
  part.dispose();
  return true;
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
  return product(a, b, bias, alpha, "none").out;
}

/**
 * gelu(a @ b + bias) with the GELU in the product's epilogue, recording no gradient; with
 * `keepPre` also the pre-activation a @ b + bias, which the backward pass needs.
 */
export function matmulGeluRaw(
  a: Tensor,
  b: Tensor,
  bias: Tensor | null,
  keepPre: boolean,
): [Tensor, Tensor | null] {
  const { out, pre } = product(a, b, bias, 1, keepPre ? "pre" : "gelu");
  return [out, pre];
}

function product(
  a: Tensor,
  b: Tensor,
  bias: Tensor | null,
  alpha: number,
  epilogue: "none" | "gelu" | "pre",
): { out: Tensor; pre: Tensor | null } {
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
  const pre = epilogue === "pre"
    ? Tensor.empty(out.shape, out.dtype, "matmul pre-activation")
    : null;
  const gelu: Gelu = epilogue === "none" ? null : { pre };
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new Error(`bias [${bias.shape}] does not match ${n} output columns`);
  }
  const bOp = bBatch.length ? batched3(b) : b;
  if (aBatch.length && !bBatch.length && a.isContiguous()) {
    // Fold the batch into the rows: one big [batch*M, K] @ [K, N].
    matmulInto(out, operand(a, false), operand(bOp, false), 1, batch * m, n, k, bias, alpha, gelu);
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
      gelu,
    );
    if (aOp !== a) aOp.dispose();
  }
  if (bOp !== b) bOp.dispose();
  return { out, pre };
}

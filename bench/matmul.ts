// The matmul workloads and kadapter's side of them.
import { sync } from "../src/gpu/queue.ts";
import { cast, linear, matmul, matmulVariant, Tensor } from "../src/tensor/mod.ts";
import type { Run } from "./timing.ts";

/** C[M, N] = A[M, K] @ B; `linear` means B = W^T with W stored [N, K] (PyTorch's layout). */
export interface MatmulCase {
  m: number;
  k: number;
  n: number;
  linear: boolean;
}

export const flopsOf = (c: MatmulCase) => 2 * c.m * c.k * c.n;
export const shapeOf = (c: MatmulCase) =>
  c.linear ? `[${c.m}x${c.k}] @ [${c.n}x${c.k}]^T` : `[${c.m}x${c.k}] @ [${c.k}x${c.n}]`;

/** 1024^3 both ways, then RoBERTa-large's projections at 4096 tokens (64 x 64). */
export function matmulCases(quick: boolean): MatmulCase[] {
  const cases: MatmulCase[] = [
    { m: 1024, k: 1024, n: 1024, linear: false },
    { m: 1024, k: 1024, n: 1024, linear: true },
  ];
  if (quick) return cases;
  // Attention projections, FFN up (1024 -> 4096) and FFN down (4096 -> 1024).
  for (const [k, n] of [[1024, 1024], [1024, 4096], [4096, 1024]]) {
    for (const lin of [false, true]) cases.push({ m: 4096, k, n, linear: lin });
  }
  return cases;
}

/** Operand data: A [M, K] and B [K, N] (or W [N, K] for linear cases). */
export interface Operands {
  a: Float32Array<ArrayBuffer>;
  b: Float32Array<ArrayBuffer>;
}

/** Our product through the public ops (matmul, or linear for the W^T layout). */
export function ours(c: MatmulCase, d: Operands, dtype: "f32" | "f16" = "f32"): Run {
  const x0 = Tensor.from(d.a, [c.m, c.k]);
  const w0 = Tensor.from(d.b, c.linear ? [c.n, c.k] : [c.k, c.n]);
  const x = dtype === "f16" ? cast(x0, "f16") : x0;
  const w = dtype === "f16" ? cast(w0, "f16") : w0;
  return {
    run: async () => {
      const y = c.linear ? linear(x, w) : matmul(x, w);
      await sync();
      y.dispose();
    },
    dispose: () => {
      for (const t of new Set([x0, w0, x, w])) t.dispose();
    },
  };
}

/** The kernel variant our matmul picks for this case. */
export function variantOf(c: MatmulCase): string {
  return matmulVariant(c.m, c.n).name;
}

// Multi-tensor launches: AdamW and sums over all gradients take many tensors per dispatch
// (a training step's dozens of parameters in a few dispatches instead of one each), as many
// as the adapter's storage bindings and the 64 parameter words of a dispatch allow. That is
// the default on GPUs, where a branch on the workgroup index is free. On llvmpipe the
// multi-tensor AdamW runs about twice as long per element as the per-tensor kernel (7
// tensors per dispatch; wherever the tensor's branch sits) and the sum 20% longer, which
// costs more than the saved dispatches, so software adapters keep the per-tensor kernels.
import { gpu } from "../../gpu/device.ts";

let forced: number | null = null;
/**
 * At most `n` tensors per dispatch (tests force small groups; Infinity: as many as the
 * adapter allows); 0 selects the per-tensor kernels; null: the adapter's default (per-tensor
 * on software adapters, else as many as allowed).
 */
export function setMultiTensor(n: number | null): void {
  forced = n;
}

/**
 * Splits `count` tensors into runs of consecutive indices for kernels binding `perTensor`
 * storage buffers and `words` parameter words per tensor, besides `fixed` buffers and
 * `fixedWords` words; null when the per-tensor kernels are selected.
 */
export function tensorGroups(
  count: number,
  perTensor: number,
  fixed: number,
  words: number,
  fixedWords: number,
): number[][] | null {
  if (forced === 0 || (forced === null && gpu().isSoftware)) return null;
  const byBindings = Math.floor((gpu().limits.maxStorageBuffersPerShaderStage - fixed) / perTensor);
  const byWords = Math.floor((64 - fixedWords) / words);
  const most = Math.max(1, Math.min(byBindings, byWords, forced ?? Infinity));
  const groups: number[][] = [];
  for (let i = 0; i < count; i += most) {
    groups.push(Array.from({ length: Math.min(most, count - i) }, (_, j) => i + j));
  }
  return groups;
}

/**
 * The branches of a multi-tensor kernel's main: workgroup `wg` belongs to the last tensor
 * whose first workgroup (parameter word `base + stride * t`) it has reached; `body(t, b)`
 * is tensor t's code, its parameters from word b.
 */
export function branches(
  k: number,
  base: number,
  stride: number,
  body: (t: number, b: number) => string,
): string {
  const out: string[] = [];
  for (let t = k - 1; t >= 0; t--) {
    const b = base + stride * t;
    const head = t === 0 ? "{" : `if (wg >= pu(${b}u)) {`;
    out.push(`${head}\n    let w = wg - pu(${b}u);\n${body(t, b)}\n  }`);
  }
  return out.join(" else ");
}

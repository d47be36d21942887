// Shared plumbing for kernels that give each row of the last axis one workgroup.
import { type Defs, type Kernel, kernel } from "../../gpu/kernel.ts";
import rowReduce from "../../../shaders/rowreduce.wgsl" with { type: "text" };

/** Workgroup size for rows of n: small rows do not need 256 idle invocations. */
export function rowWorkgroup(n: number): number {
  return n <= 32 ? 32 : n <= 64 ? 64 : n <= 128 ? 128 : 256;
}

/** A row kernel: the workgroup reductions are prepended to `source`. */
export function rowKernel(name: string, source: string, n: number, defs: Defs): Kernel {
  return kernel(name, rowReduce + source, { ...defs, WG: rowWorkgroup(n) });
}

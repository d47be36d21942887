// Kernels: WGSL sources from shaders/, specialised by {{NAME}} substitution (dtype, tile
// sizes, layout flags), compiled once per key and cached.
import { gpu, GpuError, scoped } from "./device.ts";
import prelude from "../../shaders/prelude.wgsl" with { type: "text" };
import elementEntry from "../../shaders/entry_element.wgsl" with { type: "text" };

export type Defs = Record<string, string | number | boolean>;

export interface Kernel {
  key: string;
  /** The family (the template's name), as profiles group kernels. */
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const cache = new Map<string, Kernel>();

/** Substitutes {{NAME}} placeholders; every placeholder must be defined. */
export function specialise(source: string, defs: Defs): string {
  return source.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in defs)) throw new Error(`kernel template needs a value for {{${name}}}`);
    return String(defs[name]);
  });
}

/** The compiled pipeline for `source` specialised with `defs` (cached by name and defs). */
export function kernel(name: string, source: string, defs: Defs = {}): Kernel {
  const key = name + JSON.stringify(defs);
  return cache.get(key) ?? compile(name, key, source, defs);
}

/**
 * kernel() for a source that is costly to generate (matmul's unrolled tiles): build() runs
 * only when nothing is cached under `key`, which must determine what build() returns.
 */
export function generatedKernel(
  name: string,
  key: string,
  build: () => { source: string; defs: Defs },
): Kernel {
  const k = cache.get(key);
  if (k) return k;
  const { source, defs } = build();
  return compile(name, key, source, defs);
}

function compile(name: string, key: string, source: string, defs: Defs): Kernel {
  const usesF16 = Object.values(defs).some((v) => /\bf16\b/.test(String(v)));
  if (usesF16 && !gpu().hasF16) {
    throw new GpuError(`kernel ${name} needs shader-f16, which this GPU does not offer`);
  }
  const code = (usesF16 ? "enable f16;\n" : "") + prelude + specialise(source, defs);
  const k = scoped(`compiling kernel ${key}`, () => {
    const device = gpu().device;
    const module = device.createShaderModule({ code, label: key });
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label: key,
    });
    return { key, name, pipeline, layout: pipeline.getBindGroupLayout(0) };
  });
  cache.set(key, k);
  return k;
}

/** A kernel that defines element(i), run once for every i < P[0] (shaders/entry_element.wgsl). */
export function elementKernel(name: string, source: string, defs: Defs = {}): Kernel {
  return kernel(name, source + elementEntry, defs);
}

export function kernelCacheSize(): number {
  return cache.size;
}

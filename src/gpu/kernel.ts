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
  /**
   * The storage bindings (1, 2, ...) as "r"/"w" access letters: kernels with the same
   * signature share a declared layout, and so their bind groups (src/gpu/bind_groups.ts).
   */
  signature: string;
}

const cache = new Map<string, Kernel>();
const layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();

const DECL = /@group\(0\)\s*@binding\((\d+)\)\s*var<(\w+)(?:\s*,\s*(\w+))?>/g;

/**
 * The storage bindings' access letters, read from the declarations: group 0 holds the
 * parameters at binding 0 (the prelude's) and storage buffers at 1, 2, ..., as dispatch()
 * binds them.
 */
export function bindingSignature(code: string): string {
  const access: string[] = [];
  for (const [decl, b, space, mode] of code.replace(/\/\/.*$/gm, "").matchAll(DECL)) {
    const i = Number(b);
    if (i === 0 ? space !== "uniform" : space !== "storage" || access[i - 1]) {
      throw new Error(`kernel binding "${decl}": group 0 takes P, then storage buffers 1, 2, ...`);
    }
    if (i > 0) access[i - 1] = mode === "read_write" ? "w" : "r";
  }
  const gap = [...access.keys()].find((i) => !access[i]);
  if (gap !== undefined) throw new Error(`kernel storage binding ${gap + 1} is not declared`);
  return access.join("");
}

function layoutFor(signature: string) {
  let l = layouts.get(signature);
  if (!l) {
    const device = gpu().device;
    const entries: GPUBindGroupLayoutEntry[] = [{
      binding: 0,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true },
    }];
    [...signature].forEach((a, i) =>
      entries.push({
        binding: i + 1,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: a === "w" ? "storage" : "read-only-storage" },
      })
    );
    const group = device.createBindGroupLayout({ entries, label: `bindings ${signature}` });
    l = { group, pipeline: device.createPipelineLayout({ bindGroupLayouts: [group] }) };
    layouts.set(signature, l);
  }
  return l;
}

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
  const signature = bindingSignature(code);
  const k = scoped(`compiling kernel ${key}`, () => {
    const device = gpu().device;
    const module = device.createShaderModule({ code, label: key });
    const layout = layoutFor(signature);
    const pipeline = device.createComputePipeline({
      layout: layout.pipeline,
      compute: { module, entryPoint: "main" },
      label: key,
    });
    return { key, name, pipeline, layout: layout.group, signature };
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

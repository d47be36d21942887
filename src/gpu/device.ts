// The WebGPU device: adapter discovery, the adapter's own limits and optional features,
// error reporting and device loss. Only src/gpu/ touches WebGPU directly.
import { UserError } from "../errors.ts";

/** Optional features we use when the adapter has them; the code works without each. */
const OPTIONAL_FEATURES = ["shader-f16", "timestamp-query", "subgroups"] as const;

/** Limits that matter for training; requested at the adapter's maximum. */
const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
] as const;
export type LimitName = typeof LIMITS[number];

export class GpuError extends UserError {}

export interface Gpu {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** Backend name as far as it can be told (vulkan, gl, metal, dx12). */
  backend: string;
  limits: Record<LimitName, number>;
  features: Set<string>;
  hasF16: boolean;
  /** Software rasterisers (llvmpipe, SwiftShader, WARP) want different kernels. */
  isSoftware: boolean;
  /** Set when the device is lost; every later GPU call fails with this reason. */
  lost: string | null;
}

let current: Gpu | null = null;

export function noAdapterMessage(): string {
  return "No WebGPU adapter found. kadapter needs a GPU driver WebGPU can use: Vulkan (Linux, " +
    "Windows), Metal (macOS) or D3D12 (Windows). On Linux without a GPU, install Mesa's " +
    "software drivers (apt-get install mesa-vulkan-drivers) and retry; " +
    "DENO_WEBGPU_BACKEND=vulkan|gl picks a backend.";
}

/**
 * On headless Linux, wgpu's GL probe loads libwayland, which prints "XDG_RUNTIME_DIR is
 * invalid or not set" on every run. No Wayland socket is ever opened, so pointing the
 * variable at the temp folder only silences that line.
 */
function quietWaylandProbe(): void {
  if (Deno.build.os !== "linux") return;
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  } catch {
    // Without --allow-env the message stays; nothing else depends on it.
  }
}

/** Opens the device once per process (requesting the adapter's own limits). */
export async function initGpu(): Promise<Gpu> {
  // After a loss every buffer and pipeline is gone: the process must start over.
  if (current?.lost) throw new GpuError(current.lost);
  if (current) return current;
  if (!("gpu" in navigator) || !navigator.gpu) throw new GpuError(noAdapterMessage());
  quietWaylandProbe();
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new GpuError(noAdapterMessage());
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const limits = {} as Record<LimitName, number>;
  for (const name of LIMITS) limits[name] = device.limits[name];
  const info = adapter.info;
  const desc = `${info.description} ${info.vendor} ${info.architecture}`.toLowerCase();
  const gpu: Gpu = {
    device,
    adapterInfo: info,
    backend: Deno.env.get("DENO_WEBGPU_BACKEND") ?? (Deno.build.os === "darwin" ? "metal" : "auto"),
    limits,
    features: new Set(device.features as unknown as Iterable<string>),
    hasF16: device.features.has("shader-f16"),
    isSoftware: /llvmpipe|lavapipe|swiftshader|warp|software/.test(desc) ||
      (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    lost: null,
  };
  device.lost.then((e) => {
    gpu.lost = `GPU device lost (${e.reason}): ${e.message}. Restart kadapter; training ` +
      "resumes from its last checkpoint";
    if (e.reason !== "destroyed") console.error(`kadapter: ${gpu.lost}`);
  });
  device.addEventListener("uncapturederror", (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    pendingErrors.push(`uncaptured GPU error: ${err.message}`);
  });
  // Released in order while the runtime still stands, rather than by the worker's teardown
  // or the driver's exit handlers (a software driver's threads may outlive the isolate).
  globalThis.addEventListener("unload", () => {
    if (!gpu.lost) device.destroy();
  });
  current = gpu;
  return gpu;
}

/** The adapter as a person would name it, or null before initGpu. */
export function deviceName(): string | null {
  const i = current?.adapterInfo;
  return i ? i.description || i.vendor || "unknown adapter" : null;
}

/** The open device; throws if initGpu was not awaited or the device was lost. */
export function gpu(): Gpu {
  if (!current) throw new Error("GPU not initialised: call await initGpu() first");
  if (current.lost) throw new GpuError(current.lost);
  return current;
}

// Error scopes resolve asynchronously, so errors are collected here and raised at the
// next point where the CPU waits for the GPU anyway (readback, sync).
const pendingScopes: Promise<string | null>[] = [];
const pendingErrors: string[] = [];

/** Runs fn inside validation and out-of-memory error scopes labelled with `what`. */
export function scoped<T>(what: string, fn: () => T): T {
  const device = gpu().device;
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  try {
    return fn();
  } finally {
    const v = device.popErrorScope();
    const o = device.popErrorScope();
    pendingScopes.push(
      Promise.all([v, o]).then(([ve, oe]) => {
        if (oe) return `out of GPU memory during ${what}: ${oe.message}`;
        if (ve) return `GPU validation error during ${what}: ${ve.message}`;
        return null;
      }),
    );
  }
}

/** Raises the first GPU error reported since the last check. */
export async function raiseGpuErrors(): Promise<void> {
  const results = await Promise.all(pendingScopes.splice(0));
  const errors = [...results.filter((e): e is string => e !== null), ...pendingErrors.splice(0)];
  if (current?.lost) errors.unshift(current.lost);
  if (errors.length > 0) throw new GpuError(errors[0]);
}

/** Human-readable byte count. */
export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

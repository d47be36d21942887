// kadapter doctor: what WebGPU adapter this machine offers, and whether it computes right.
import { fmtBytes, type Gpu, initGpu } from "../gpu/device.ts";
import { matmulVariant } from "../tensor/mod.ts";
import { type Command, numberOption } from "./options.ts";
import { checkMatmul, describeCheck } from "../runs/selftest.ts";

/** The self-test's products: one small, one at realistic width, one with B transposed. */
const CHECKS: [number, number, number, boolean][] = [
  [256, 256, 256, false],
  [512, 768, 768, false],
  [512, 768, 768, true],
];

export function describeAdapter(g: Gpu): string[] {
  const info = g.adapterInfo;
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const env = Deno.env.get("DENO_WEBGPU_BACKEND");
  const l = g.limits;
  return [
    `adapter      ${info.description || "(no description)"}`,
    `vendor       ${info.vendor || "?"}  architecture ${info.architecture || "?"}  device ${
      info.device || "?"
    }`,
    `backend      ${
      env ? `${env} (DENO_WEBGPU_BACKEND)` : "default (wgpu's choice; DENO_WEBGPU_BACKEND unset)"
    }`,
    `software     ${g.isSoftware ? "yes" : "no"}  fallback adapter ${fallback ?? "?"}`,
    `features     ${[...g.features].sort().join(", ") || "(none)"}`,
    `shader-f16   ${g.hasF16 ? "available" : "not available (f32 only)"}`,
    `limits       maxBufferSize ${fmtBytes(l.maxBufferSize)}, maxStorageBufferBindingSize ${
      fmtBytes(l.maxStorageBufferBindingSize)
    }`,
    `             workgroup storage ${
      fmtBytes(l.maxComputeWorkgroupStorageSize)
    }, invocations ${l.maxComputeInvocationsPerWorkgroup}, storage buffers per stage ${l.maxStorageBuffersPerShaderStage}`,
    `             workgroups per dimension ${l.maxComputeWorkgroupsPerDimension}`,
    `matmul       ${matmulVariant().name}`,
  ];
}

export const doctor: Command = {
  spec: {
    name: "doctor",
    summary: "show the WebGPU adapter and run a short GPU self-test",
    options: {
      seconds: { type: "string", arg: "S", default: "1", help: "timing budget per product" },
    },
    details: "Exit code 0 when every check passes, 1 when one fails or no adapter exists.",
  },
  async run(values) {
    const seconds = numberOption(values, "seconds", { min: 0, max: 60, integer: false });
    const g = await initGpu();
    for (const line of describeAdapter(g)) console.log(line);
    console.log("self-test");
    let ok = true;
    for (const [m, n, k, t] of CHECKS) {
      const c = await checkMatmul(m, n, k, t, seconds);
      console.log(`  ${describeCheck(c)}`);
      ok &&= c.pass;
    }
    console.log(ok ? "PASS: the GPU computes correctly" : "FAIL: wrong results from the GPU");
    return ok ? 0 : 1;
  },
};

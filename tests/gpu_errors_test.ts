// GPU errors reach the user as clear GpuErrors: shader compile failures surface at the next
// sync naming the kernel, and a lost device fails every later call (checked in a child
// process, since a lost device cannot be reopened).
import assert from "node:assert/strict";
import { gpu, GpuError } from "../src/gpu/device.ts";
import { Tensor } from "../src/tensor/mod.ts";
import { kernel } from "../src/gpu/kernel.ts";
import { sync } from "../src/gpu/queue.ts";
import { test } from "./setup.ts";

test("gpu errors: an invalid shader is reported at the next sync, naming the kernel", async () => {
  kernel("broken_on_purpose", "fn main( {");
  await assert.rejects(sync(), (e: Error) => {
    assert.ok(e instanceof GpuError, `got ${e}`);
    assert.match(e.message, /compiling kernel broken_on_purpose/);
    return true;
  });
  await sync(); // reported once, not again
});

test("gpu errors: after device loss every call fails with the reason", async () => {
  const script = `
    import { gpu, initGpu } from "./src/gpu/device.ts";
    import { ones } from "./src/tensor/mod.ts";
    await initGpu();
    gpu().device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    for (const f of [() => ones([4]), () => initGpu()]) {
      try { await f(); console.log("no error"); } catch (e) { console.log(e.name + ": " + e.message); }
    }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  assert.equal(lines.length, 2, new TextDecoder().decode(out.stderr));
  for (const l of lines) assert.match(l, /^GpuError: GPU device lost \(destroyed\)/);
});

test("gpu errors: a buffer above maxBufferSize is refused before allocation", () => {
  const max = gpu().limits.maxBufferSize;
  assert.throws(() => Tensor.empty([Math.floor(max / 4) + 1024]), (e: Error) => {
    assert.ok(e instanceof GpuError);
    assert.match(e.message, /exceeds this GPU's maxBufferSize/);
    return true;
  });
});

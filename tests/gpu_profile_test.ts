// The kernel profiler: every dispatch counted under its family in both modes (GPU timestamps,
// timed submits), paused work left out, times finite and summed, and results unchanged. The
// loop's --profile is tested with the loop (train/loop_test.ts).
import assert from "node:assert/strict";
import { gpu } from "../src/gpu/device.ts";
import {
  pauseProfile,
  type Profile,
  profileTable,
  startProfile,
  stopProfile,
} from "../src/gpu/profile.ts";
import { sync } from "../src/gpu/queue.ts";
import { add, matmul, type Tensor } from "../src/tensor/mod.ts";
import { read, test, up } from "./setup.ts";

/** 3 products and 2 sums of [64, 64] inputs, returned for reading. */
function work(a: Tensor, b: Tensor): Tensor[] {
  const out: Tensor[] = [];
  for (let i = 0; i < 3; i++) out.push(matmul(a, b));
  for (let i = 0; i < 2; i++) out.push(add(a, b));
  return out;
}

const modes: Profile["mode"][] = ["submit"];
if (gpu().features.has("timestamp-query")) modes.unshift("timestamp");

for (const mode of modes) {
  test(`profile (${mode}): dispatches counted per family, paused work left out, same results`, async (rng) => {
    const a = up(rng.randn([64, 64])), b = up(rng.randn([64, 64]));
    const plain = work(a, b);
    const want = await Promise.all(plain.map(read));
    startProfile(mode);
    const profiled = work(a, b);
    pauseProfile(true);
    const unseen = work(a, b);
    pauseProfile(false);
    await sync();
    const p = (await stopProfile())!;
    assert.equal(p.mode, mode);
    const got = await Promise.all(profiled.map(read));
    assert.deepEqual(got, want, "profiling changes no values");
    const counts = Object.fromEntries(p.kernels.map((k) => [k.name, k.dispatches]));
    // One product dispatch each, plus a summing pass each where the plan splits K.
    const products = p.kernels.filter((k) => /^matmul_(reg|tiled)/.test(k.name));
    assert.equal(products.reduce((n, k) => n + k.dispatches, 0), 3, JSON.stringify(counts));
    assert.ok([0, 3].includes(counts.matmul_splitk ?? 0), JSON.stringify(counts));
    // Dense 64x64 maps take the vec4 kernel on every adapter.
    assert.equal(counts.elementwise_v4, 2, JSON.stringify(counts));
    for (const k of p.kernels) assert.ok(Number.isFinite(k.ms) && k.ms >= 0, `${k.name} ${k.ms}`);
    const sum = p.kernels.reduce((s, k) => s + k.ms, 0);
    assert.ok(Math.abs(sum - p.totalMs) < 1e-9);
    assert.ok(p.totalMs > 0, "the work took some time");
    assert.deepEqual(
      p.kernels.map((k) => k.ms),
      [...p.kernels.map((k) => k.ms)].sort((x, y) => y - x),
    );
    const table = profileTable(p, 1);
    assert.match(table.split("\n")[0], /^profile over 1 steps/);
    assert.match(table, /\belementwise_v4\s+2\.0\s/);
    assert.equal(await stopProfile(), null, "stopped once");
    for (const t of [a, b, ...plain, ...profiled, ...unseen]) t.dispose();
  });
}

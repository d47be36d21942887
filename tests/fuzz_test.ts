// The fuzz suite at CI size (tests/fuzz/suite.ts): every case a success or a clean refusal.
// A larger run: deno task fuzz --cases N [--seed S].
import assert from "node:assert/strict";
import { initGpu } from "../src/gpu/device.ts";
import { makeInputs } from "./fuzz/fixtures.ts";
import { runFuzz, tally } from "./fuzz/suite.ts";

const CASES = Number(Deno.env.get("KADAPTER_FUZZ_CASES") ?? 240);

Deno.test(`fuzz: ${CASES} corrupted inputs, each accepted or refused cleanly`, async () => {
  await initGpu();
  const inputs = await makeInputs();
  try {
    const results = await runFuzz(inputs, CASES, 20261202);
    const bad = results.filter((r) => r.verdict !== "accepted" && r.verdict !== "refused");
    console.log(tally(results));
    assert.deepEqual(
      bad.map((r) => `${r.target} / ${r.variant}: ${r.verdict}: ${r.outcome.text.slice(0, 400)}`),
      [],
    );
    assert.ok(results.filter((r) => r.verdict === "refused").length > CASES / 3);
  } finally {
    await Deno.remove(inputs.root, { recursive: true });
  }
});

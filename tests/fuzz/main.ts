// deno task fuzz [--cases N] [--seed S]: the fuzz suite at any size, with a table of verdicts
// per input kind and every case that was not accepted or cleanly refused.
import { parseArgs } from "node:util";
import { initGpu } from "../../src/gpu/device.ts";
import { liveTensors } from "../../src/tensor/tensor.ts";
import { makeInputs } from "./fixtures.ts";
import { runFuzz, tally, TARGETS } from "./suite.ts";

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    "show-accepted": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const cases = Number(values.cases), seed = Number(values.seed);
// --only REGEX: the input kinds whose name matches (e.g. --only checkpoint).
const targets = values.only
  ? TARGETS.filter((t) => new RegExp(values.only!).test(t.kind))
  : TARGETS;
await initGpu();
const inputs = await makeInputs();
let done = 0, bad = 0;
try {
  const results = await runFuzz(inputs, cases, seed, (r) => {
    done++;
    if (values.verbose) {
      console.error(
        `${done} ${r.verdict} ${(r.outcome.ms / 1000).toFixed(1)} s ${r.target} / ${r.variant}`,
      );
    }
    if (r.verdict !== "accepted" && r.verdict !== "refused") {
      bad++;
      console.log(`${r.verdict}: ${r.target} / ${r.variant}\n  ${r.outcome.text.slice(0, 600)}`);
    }
    if (r.verdict === "accepted" && values["show-accepted"]) {
      console.log(`accepted: ${r.target} / ${r.variant}`);
    }
    if (done % 50 === 0 && !values.verbose) console.error(`${done}/${cases} cases, ${bad} failing`);
  }, targets);
  console.log(tally(results));
  console.log(`${cases} cases (seed ${seed}): ${bad} failing; ${liveTensors()} tensors live after`);
  Deno.exitCode = bad ? 1 : 0;
} finally {
  await Deno.remove(inputs.root, { recursive: true });
}

// Ctrl-C during long synchronous work (a training step that records and submits GPU work
// without yielding): the first press is seen by the work when it next looks and says so at
// once; the second ends the process at once, while the main thread is still busy.
import assert from "node:assert/strict";
import { join } from "node:path";

const MODULE = new URL("../../src/train/interrupt.ts", import.meta.url).href;

/** A child that watches interrupts, says "ready", then keeps its main thread busy `ms`. */
async function child(ms: number): Promise<Deno.ChildProcess> {
  const dir = await Deno.makeTempDir({ prefix: "kadapter_sigint_" });
  const script = join(dir, "busy.ts");
  await Deno.writeTextFile(
    script,
    `import { interrupted, watchInterrupts } from ${JSON.stringify(MODULE)};
const stop = await watchInterrupts();
console.log("ready");
const t = Date.now();
while (Date.now() - t < ${ms}) { /* one long step */ }
console.log("interrupted: " + interrupted());
stop();
`,
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", script],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
}

/** Resolves once the child printed "ready". */
async function ready(p: Deno.ChildProcess): Promise<ReadableStream<Uint8Array>> {
  const [mine, rest] = p.stdout.tee();
  const reader = mine.getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  mine.cancel();
  return rest;
}

const read = async (s: ReadableStream<Uint8Array>) =>
  new TextDecoder().decode(
    new Uint8Array(await new Response(s).arrayBuffer()),
  );

Deno.test("one Ctrl-C is seen after the step, with a message at once", async () => {
  const p = await child(2500);
  const stdout = await ready(p);
  p.kill("SIGINT");
  const [out, err, status] = await Promise.all([read(stdout), read(p.stderr), p.status]);
  assert.equal(status.code, 0);
  assert.match(out, /interrupted: true/);
  assert.match(err, /stopping after the current step.*Ctrl-C again quits at once/);
});

Deno.test("a second Ctrl-C ends the process while its main thread is busy", async () => {
  const p = await child(60_000);
  const stdout = await ready(p);
  const t0 = performance.now();
  p.kill("SIGINT");
  // The worker must have taken the first press before the second comes.
  await new Promise((r) => setTimeout(r, 500));
  p.kill("SIGINT");
  const [out, , status] = await Promise.all([read(stdout), read(p.stderr), p.status]);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(status.signal, "SIGINT");
  assert.ok(seconds < 10, `ended after ${seconds.toFixed(1)} s, not after the 60 s step`);
  assert.doesNotMatch(out, /interrupted:/);
});

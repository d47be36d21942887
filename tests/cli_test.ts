// The kadapter command line, run as a user runs it: a subprocess of this Deno with the
// permissions of `deno task kadapter`.
import assert from "node:assert/strict";
import config from "../deno.json" with { type: "json" };

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env"];

function command(
  args: string[],
  stdout: "null" | "piped" = "piped",
  env: Record<string, string> = {},
) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    stdin: "null",
    stdout,
    stderr: "piped",
    env,
  });
}

async function run(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await command(args, "piped", env).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

const kadapter = (...args: string[]) => run(args);

Deno.test("--help lists the commands; --version prints deno.json's version", async () => {
  const help = await kadapter("--help");
  assert.equal(help.code, 0, help.err);
  assert.match(help.out, /Usage: kadapter <command>/);
  assert.match(help.out, /doctor/);
  assert.match(help.out, /demo/);
  const version = await kadapter("--version");
  assert.equal(version.out.trim(), config.version);
});

Deno.test("each command's --help shows its options and defaults", async () => {
  const demo = await kadapter("demo", "--help");
  assert.equal(demo.code, 0, demo.err);
  assert.match(demo.out, /--out DIR .*\(default: runs\/demo\)/);
  assert.match(demo.out, /--seed N .*\(default: 42\)/);
  assert.match(demo.out, /--quick/);
  const doctor = await kadapter("doctor", "--help");
  assert.equal(doctor.code, 0, doctor.err);
  assert.match(doctor.out, /self-test/);
});

Deno.test("bad command lines exit with code 2 and a hint", async () => {
  for (const args of [["frobnicate"], ["--bogus"], ["demo", "--steps", "x"], ["demo", "--nope"]]) {
    const r = await kadapter(...args);
    assert.equal(r.code, 2, `${args}: ${r.err}`);
    assert.match(r.err, /kadapter --help/);
  }
});

Deno.test("doctor describes the adapter and its self-test passes", async () => {
  const r = await kadapter("doctor", "--seconds", "0.2");
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^adapter /m);
  assert.match(r.out, /shader-f16 /);
  assert.match(r.out, /maxStorageBufferBindingSize/);
  assert.match(r.out, /^matmul /m);
  assert.doesNotMatch(r.out, /FAIL/);
  assert.match(r.out, /^PASS/m);
});

Deno.test({
  name: "no WebGPU adapter: a clear message and exit code 1",
  // Linux has no D3D12, so asking for it leaves wgpu without an adapter.
  ignore: Deno.build.os !== "linux",
  async fn() {
    const r = await run(["doctor"], { DENO_WEBGPU_BACKEND: "dx12" });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /No WebGPU adapter found/);
    assert.match(r.err, /mesa-vulkan-drivers/);
  },
});

Deno.test("demo --quick trains, logs metrics.jsonl and beats chance", async () => {
  const out = await Deno.makeTempDir({ prefix: "kadapter_demo_" });
  try {
    const r = await kadapter("demo", "--quick", "--out", out);
    assert.equal(r.code, 0, r.out + r.err);
    const records = Deno.readTextFileSync(`${out}/metrics.jsonl`).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.ok(records.filter((x) => x.event === "train").length > 0, "no train records");
    const done = records.find((x) => x.event === "done");
    assert.ok(done, "no final record");
    const m = r.out.match(/test accuracy\s+([\d.]+)% .*chance ([\d.]+)%/);
    assert.ok(m, r.out);
    assert.ok(Math.abs(Number(m[1]) / 100 - done.test_accuracy) < 1e-3);
    assert.ok(Number(m[1]) >= Number(m[2]) + 10, `accuracy ${m[1]}% vs chance ${m[2]}%`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("same seed, same losses", async () => {
  const losses = async (seed: string) => {
    const out = await Deno.makeTempDir({ prefix: "kadapter_seed_" });
    try {
      const r = await kadapter("demo", "--steps", "6", "--seed", seed, "--out", out);
      assert.equal(r.code, 0, r.out + r.err);
      return Deno.readTextFileSync(`${out}/metrics.jsonl`).trim().split("\n").map((l) =>
        JSON.parse(l)
      ).filter((x) => x.event === "train").map((x) => x.loss);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  };
  const a = await losses("7"), b = await losses("7");
  assert.equal(a.length, 6);
  assert.deepEqual(a, b);
});

Deno.test("Ctrl-C stops the demo cleanly", async () => {
  const out = await Deno.makeTempDir({ prefix: "kadapter_sigint_" });
  const child = command(["demo", "--steps", "5000", "--out", out], "null").spawn();
  try {
    // Wait for the first progress line: training has begun.
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    while (!/train \d+\/5000/.test(err)) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    child.kill("SIGINT");
    for (let r = await reader.read(); !r.done; r = await reader.read()) err += r.value;
    assert.equal((await child.status).code, 130, err);
    assert.match(err, /interrupted/);
    assert.match(err, /stopped at step \d+/);
    const last = Deno.readTextFileSync(`${out}/metrics.jsonl`).trim().split("\n").at(-1)!;
    assert.equal(JSON.parse(last).event, "interrupted");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

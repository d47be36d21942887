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
  for (const args of [["frobnicate"], ["--bogus"], ["demo", "--seed", "x"], ["demo", "--nope"]]) {
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

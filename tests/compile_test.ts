// deno task compile (tools/compile.ts) refuses a DENORT_BIN that cannot work before anything
// is built; a binary it built answers --help as kadapter (run when dist/kadapter exists).
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const BINARY = join(ROOT, "dist/kadapter");

async function compile(denort: string) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run"]
      .concat([join(ROOT, "tools/compile.ts")]),
    env: { DENORT_BIN: denort },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

function saysWhereToGetDenort(err: string) {
  const v = Deno.version.deno, target = Deno.build.target;
  assert.ok(err.includes(`denort-${target}.zip for Deno ${v}`), err);
  assert.ok(err.includes(`https://github.com/denoland/deno/releases/tag/v${v}`), err);
  assert.match(err, /set DENORT_BIN to the unzipped `denort`/);
  assert.doesNotMatch(err, /backtrace|^\s+at /m);
}

Deno.test("compile refuses the deno CLI as DENORT_BIN, under its name or another", async () => {
  const r = await compile(Deno.execPath());
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /is the deno command-line tool, not its runtime/);
  saysWhereToGetDenort(r.err);
  // Renamed, it is still recognised (it answers --version as deno).
  const dir = await Deno.makeTempDir({ prefix: "kadapter_compile_" });
  try {
    const fake = join(dir, "denort");
    await Deno.symlink(Deno.execPath(), fake);
    const renamed = await compile(fake);
    assert.equal(renamed.code, 1, renamed.err);
    assert.match(renamed.err, /is the deno command-line tool/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile refuses a DENORT_BIN that does not exist", async () => {
  const r = await compile("/nonexistent/denort");
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /DENORT_BIN=\/nonexistent\/denort: no such file/);
  saysWhereToGetDenort(r.err);
});

const built = await Deno.stat(BINARY).then(() => true, () => false);

Deno.test({
  name: "the built dist/kadapter answers --help as kadapter",
  ignore: !built,
  async fn() {
    const { code, stdout } = await new Deno.Command(BINARY, { args: ["--help"], stdin: "null" })
      .output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0);
    assert.match(out, /^kadapter \S+: K-Adapter/);
    assert.match(out, /Usage: kadapter <command>/);
  },
});

// The CLI needs nothing from the source tree at run time (shaders, the tokenizer's merges and
// the demo's data are compiled in): run from another working directory with read permission
// for a temporary folder and the data files it is given, it makes a model and trains an adapter.
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN } from "./kadapter_cli.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const WORLD = new URL("../data/world/", import.meta.url).pathname;

Deno.test("kadapter runs from another folder reading only its temp folder and inputs", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "kadapter_sandbox_" });
  const data = ["words.txt", "trex_train.arrow", "trex_dev.arrow"].map((f) => join(WORLD, f));
  const kadapter = async (...args: string[]) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", CONFIG, `--allow-read=${[tmp, ...data].join(",")}`]
        .concat([`--allow-write=${tmp}`, "--allow-env", MAIN, ...args]),
      cwd: tmp,
      stdin: "null",
    }).output();
    const dec = new TextDecoder();
    return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
  };
  try {
    const [words, train, dev] = data;
    const init = await kadapter(
      "model",
      "init",
      "--preset",
      "tiny",
      "--words",
      words,
      "--out",
      "tiny",
    );
    assert.equal(init.code, 0, init.out + init.err);
    const fac = await kadapter(
      "train",
      "fac",
      "--model",
      "tiny",
      "--train",
      train,
      "--dev",
      dev,
      "--out",
      "fac",
      "--adapter-size",
      "16",
      "--adapter-heads",
      "2",
      "--adapter-ffn",
      "32",
      "--adapter-layers",
      "1",
      "--batch",
      "8",
      "--steps",
      "2",
      "--lr",
      "1e-3",
      "--warmup",
      "0",
      "--dev-limit",
      "16",
    );
    assert.equal(fac.code, 0, fac.out + fac.err);
    assert.ok(Deno.statSync(join(tmp, "fac", "adapter", "adapter.safetensors")).size > 0);
    // Reading outside the granted paths is refused, so the runs above read nothing else.
    const outside = await kadapter(
      "model",
      "init",
      "--preset",
      "tiny",
      "--words",
      CONFIG,
      "--out",
      "x",
    );
    assert.equal(outside.code, 1, outside.out + outside.err);
    assert.match(outside.err, /read access/i);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

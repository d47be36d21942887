// `kadapter demo --quick` end to end as a user runs it, from another working directory with
// read and write permission for a temporary folder only (so nothing may come from the source
// tree): interrupted with Ctrl-C during the fac stage, continued by the same command, then
// rerun (every stage kept) and refused in the same folder with another seed. Checks the
// tables, the report and that the metrics are sane.
import assert from "node:assert/strict";
import { join } from "node:path";
import { demoStages } from "../src/demo/plan.ts";
import { lastEval } from "../src/demo/results.ts";
import { readJsonl } from "../src/train/log.ts";
import { MAIN } from "./kadapter_cli.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

function demo(tmp: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, `--allow-read=${tmp}`, `--allow-write=${tmp}`]
      .concat(["--allow-env", MAIN, "demo", "--quick", "--out", "demo", ...args]),
    cwd: tmp,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function kadapter(tmp: string, ...args: string[]) {
  const { code, stdout, stderr } = await demo(tmp, args).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test("demo --quick: Ctrl-C, continue, tables, report, sane metrics, rerun", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "kadapter_demo_" }), out = join(tmp, "demo");
  try {
    const child = demo(tmp, []).spawn();
    child.stdout.cancel();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    while (!/train 1\/40 /.test(err)) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    child.kill("SIGINT");
    for (let r = await reader.read(); !r.done; r = await reader.read()) err += r.value;
    assert.equal((await child.status).code, 130, err);
    assert.match(err, /demo interrupted in stage fac; run the same command again/);
    assert.ok(await exists(join(out, "fac", "checkpoint")), "no checkpoint after Ctrl-C");

    const full = await kadapter(tmp);
    assert.equal(full.code, 0, full.out + full.err);
    assert.match(full.out, /continuing the demo/);
    assert.match(full.out, /\$ kadapter train fac .* --resume/);
    for (
      const title of ["Knowledge infusion", "Entity typing", "Relation classification", "LAMA"]
    ) assert.match(full.out, new RegExp(title));
    assert.match(full.out, /K-Adapter \(F\+L\)/);

    // Every stage left its output; training stages their own report.
    const stages = demoStages({ out: "demo", seed: 42, quick: true, pretrain: false });
    for (const s of stages) {
      assert.ok(await exists(join(tmp, s.output)), `${s.id}: no ${s.output}`);
      if (s.run) {
        assert.ok(await exists(join(tmp, s.run, "report.html")), `${s.id}: no report.html`);
      }
    }
    const report = await Deno.readTextFile(join(out, "report.html"));
    assert.match(report, /<svg/);
    assert.doesNotMatch(
      report,
      /<script|https?:\/\/(?!www\.w3\.org)/,
      "the report fetches nothing",
    );
    assert.match(report, /href="fac\/adapter"/);
    assert.match(report, /href="entity_typing\/FL\/model"/);

    // Sane metrics: every metric within [0, 1], every training loss fell, and the adapters
    // learned something in a few dozen steps (fac: majority class is 0.18 micro-F1).
    const fac = lastEval(join(out, "fac"))!, lin = lastEval(join(out, "lin"))!;
    assert.ok(fac.micro_f1 > 0.2, `fac micro-F1 ${fac.micro_f1}`);
    assert.ok(lin.uas > 0.1, `lin UAS ${lin.uas}`);
    for (const s of stages.filter((s) => s.run)) {
      const log = readJsonl(join(tmp, s.run!, "metrics.jsonl"));
      const losses = log.filter((r) => r.event === "train").map((r) => r.loss as number);
      assert.ok(losses.at(-1)! < losses[0], `${s.id}: loss ${losses[0]} -> ${losses.at(-1)}`);
      for (const r of log.filter((r) => r.event === "eval")) {
        for (const [k, v] of Object.entries(r)) {
          if (k === "step" || typeof v !== "number" || k.includes("loss") || k === "perplexity") {
            continue;
          }
          assert.ok(v >= 0 && v <= 1, `${s.id}: ${k} ${v}`);
        }
      }
    }
    for (const sub of ["encoder", "fac"]) {
      const r = JSON.parse(await Deno.readTextFile(join(out, "probe", sub, "results.json")));
      for (const m of Object.values(r.models) as { macro: Record<string, number> }[]) {
        for (const x of Object.values(m.macro)) assert.ok(x >= 0 && x <= 1, `${sub}: ${x}`);
      }
    }

    const again = await kadapter(tmp);
    assert.equal(again.code, 0, again.out + again.err);
    assert.equal(again.out.match(/done by an earlier run, kept/g)?.length, stages.length);
    const tables = (s: string) => s.slice(s.indexOf("Knowledge infusion"), s.indexOf("demo done"));
    assert.equal(tables(again.out), tables(full.out));

    const other = await kadapter(tmp, "--seed", "7");
    assert.equal(other.code, 1, other.out + other.err);
    assert.match(other.err, /holds a demo run with other settings/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

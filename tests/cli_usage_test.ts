// The command line's help for mistakes (issue 15): relative paths under `deno task`, nearest
// command and option, group help, negative numbers, model and adapter folders that are not
// there, datasets of the wrong schema or not Arrow at all, --input / --in, and --overwrite.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseCommand, UsageError } from "../src/cli/options.ts";
import { COMMANDS } from "../src/cli/commands.ts";
import { editDistance, nearest } from "../src/cli/suggest.ts";
import { FORMATS } from "../src/formats/convert/convert.ts";
import { MADE_BY } from "../src/formats/convert_hint.ts";
import { countRows, NotArrowError, readRows } from "../src/formats/arrow.ts";
import { kadapter } from "./kadapter_cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ENCODER = join(ROOT, "data/world/encoder");
const TREX = join(ROOT, "data/world/trex_train.arrow");
const RELATION = join(ROOT, "data/tasks/relation_train.arrow");
const dir = await Deno.makeTempDir({ prefix: "kadapter_usage_" });
const lines = join(dir, "lines.txt");
await Deno.writeTextFile(lines, "one line\nanother line\n");

/** A one-paragraph message: no stack trace. */
function noStack(err: string) {
  assert.doesNotMatch(err, /^\s+at /m, err);
}

Deno.test("deno task: relative paths are the folder the task was typed in", async () => {
  const cwd = await Deno.makeTempDir({ dir, prefix: "task_" });
  await Deno.copyFile(lines, join(cwd, "lines.txt"));
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", join(ROOT, "deno.json"), "kadapter", "data", "convert"]
      .concat(["--format", "text", "--input", "lines.txt", "--out", "x.arrow"]),
    cwd,
    // deno task keeps an INIT_CWD it inherits (this test may itself run under deno task).
    clearEnv: true,
    env: Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => k !== "INIT_CWD")),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, err);
  assert.equal(await countRows(join(cwd, "x.arrow")), 2);
  await assert.rejects(Deno.stat(join(ROOT, "x.arrow")), Deno.errors.NotFound);
});

Deno.test("edit distance and the nearest name", () => {
  assert.equal(editDistance("trian", "train"), 1); // a swap is one edit
  assert.equal(editDistance("bacth", "batch"), 1);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(nearest("trian", ["train", "eval", "probe"]), "train");
  assert.equal(nearest("fca", ["fac", "lin"]), "fac");
  assert.equal(nearest("frobnicate", ["train", "eval", "probe"]), null);
  assert.equal(nearest("max-len", ["max-length", "batch"]), "max-length"); // a prefix of one
});

Deno.test("a mistyped command, subcommand or option gets the nearest one", async () => {
  const cases: [string[], RegExp][] = [
    [["trian"], /unknown command "trian"; did you mean "train"\?/],
    [["train", "fca"], /unknown subcommand "train fca"; did you mean "train fac"\?/],
    [["train", "fac", "--bacth", "4"], /train fac: unknown option --bacth; did you mean --batch\?/],
    [["demo", "--qiuck"], /unknown option --qiuck; did you mean --quick\?/],
    [["demo", "extra"], /demo: unexpected argument "extra"/],
  ];
  for (const [args, re] of cases) {
    const r = await kadapter(...args);
    assert.equal(r.code, 2, `${args}: ${r.err}`);
    assert.match(r.err, re);
    assert.match(r.err, /kadapter --help/);
  }
  const far = await kadapter("frobnicate");
  assert.doesNotMatch(far.err, /did you mean/);
});

Deno.test("a group with --help lists its subcommands; alone, it lists them and exits 2", async () => {
  for (const group of ["train", "finetune", "model", "probe", "data", "eval", "predict"]) {
    const subs = Object.keys(COMMANDS).filter((n) => n.startsWith(`${group} `));
    const help = await kadapter(group, "--help");
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, new RegExp(`^Usage: kadapter ${group} <subcommand>`, "m"));
    for (const n of subs) {
      assert.ok(help.out.includes(`  ${n}`) && help.out.includes(COMMANDS[n].spec.summary), n);
    }
    assert.equal((await kadapter(group, "-h")).code, 0);
  }
  const bare = await kadapter("train");
  assert.equal(bare.code, 2);
  assert.match(bare.err, /"train" needs a subcommand/);
  assert.ok(bare.err.includes(COMMANDS["train fac"].spec.summary), bare.err);
  assert.ok(bare.err.includes(COMMANDS["train lin"].spec.summary), bare.err);
});

Deno.test("a negative number reaches the option's own range check", async () => {
  const spec = COMMANDS["train fac"].spec;
  assert.equal(parseCommand(spec, ["--batch", "-4"])?.batch, "-4");
  assert.equal(parseCommand(spec, ["--lr", "-.5", "--f16"])?.lr, "-.5");
  assert.equal(parseCommand(spec, ["--batch=-4"])?.batch, "-4");
  // A flag after a string option is still a flag, not its value.
  assert.throws(() => parseCommand(spec, ["--batch", "--f16"]), UsageError);
  const r = await kadapter(
    ...["train", "fac", "--model", ENCODER, "--train", TREX, "--out", join(dir, "neg")],
    ...["--batch", "-4"],
  );
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--batch must be a number in \[1, \d+\], got -4/);
  await assert.rejects(Deno.stat(join(dir, "neg")), Deno.errors.NotFound);
});

Deno.test("--model: a hub name says how to download it; a missing folder says so", async () => {
  const train = ["--train", TREX, "--out", join(dir, "never")];
  for (const name of ["roberta-large", "FacebookAI/roberta-base"]) {
    const r = await kadapter("train", "fac", "--model", name, ...train);
    assert.equal(r.code, 1, r.err);
    assert.ok(r.err.includes(`${name}: no such folder`), r.err);
    assert.match(r.err, /does not download Hugging Face hub names/);
    assert.ok(r.err.includes(`https://huggingface.co/${name}`), r.err);
    assert.ok(r.err.includes(`huggingface-cli download ${name} --local-dir`), r.err);
    noStack(r.err);
  }
  const nope = await kadapter("finetune", "relation", "--model", "nope", ...train);
  assert.equal(nope.code, 1, nope.err);
  assert.match(nope.err, /nope: no such folder \(--model takes a model folder/);
  assert.doesNotMatch(nope.err, /huggingface/);
  const file = await kadapter("probe", "lama", "--model", lines, "--data", TREX, "--out", dir);
  assert.equal(file.code, 1, file.err);
  assert.match(file.err, /lines\.txt: is a file; --model takes a model folder/);
  const uhn = await kadapter(
    ...["probe", "lama", "--model", ENCODER, "--data", TREX, "--out", join(dir, "never")],
    ...["--uhn", "--uhn-model", "roberta-base"],
  );
  assert.match(uhn.err, /roberta-base: no such folder.*--uhn-model \.\/roberta-base/);
});

Deno.test("--adapters NAME=DIR with no such DIR says the folder does not exist", async () => {
  const r = await kadapter(
    ...["probe", "train-mlm", "--model", ENCODER, "--adapters", `fac=${join(dir, "nope")}`],
    ...["--corpus", join(ROOT, "data/world/corpus.arrow"), "--out", join(dir, "never")],
  );
  assert.equal(r.code, 1, r.err);
  assert.ok(r.err.includes(`${join(dir, "nope")}: no such folder`), r.err);
  assert.match(r.err, /--adapters fac/);
  noStack(r.err);
});

Deno.test("a dataset of another schema names it, the one expected and how to make it", async () => {
  const et = await kadapter(
    ...["finetune", "entity-typing", "--model", ENCODER, "--max-length", "64"],
    ...["--train", TREX, "--out", join(dir, "never")],
  );
  assert.equal(et.code, 1, et.err);
  assert.match(et.err, /trex_train\.arrow: schema, field text: missing string column/);
  assert.match(et.err, /holds the trex-rc or relation schema, not entity-typing \(text, start/);
  assert.match(et.err, /`kadapter data convert --format entity-typing-json --input SOURCE/);
  noStack(et.err);
  const fac = await kadapter(
    ...["train", "fac", "--model", ENCODER, "--train", RELATION, "--out", join(dir, "never")],
  );
  assert.equal(fac.code, 1, fac.err);
  assert.match(fac.err, /relation_train\.arrow: row 0, field relation: ".*" is a TACRED label/);
  assert.match(fac.err, /not trex-rc .*--format trex-rc-json/);
  // The relation schema itself takes TACRED's labels.
  let n = 0;
  for await (const rows of readRows(RELATION, "relation")) n += rows.length;
  assert.ok(n > 0);
});

Deno.test("a JSON or text file where Arrow is read names the data convert format", async () => {
  const json = join(dir, "trex.json");
  await Deno.writeTextFile(json, '[{"token": ["a"]}]');
  const fac = await kadapter(
    ...["train", "fac", "--model", ENCODER, "--train", json, "--out", join(dir, "never")],
  );
  assert.equal(fac.code, 1, fac.err);
  assert.ok(
    fac.err.includes(
      `${json} is not an Arrow file (it starts like JSON): datasets are Arrow IPC files or ` +
        "save_to_disk folders; the trex-rc schema comes from `kadapter data convert --format " +
        `trex-rc-json --input ${json} --out X.arrow\``,
    ),
    fac.err,
  );
  const et = await kadapter(
    ...["finetune", "entity-typing", "--model", ENCODER, "--max-length", "64"],
    ...["--train", lines, "--out", join(dir, "never")],
  );
  assert.equal(et.code, 1, et.err);
  assert.match(et.err, /lines\.txt is not an Arrow file \(it starts like text\)/);
  assert.match(et.err, /--format entity-typing-json --input .*lines\.txt/);
  // Without a schema (counting rows), every schema's format is named.
  const e = await countRows(lines).catch((e) => e);
  assert.ok(e instanceof NotArrowError);
  assert.match(e.message, /text \(text\), .*tacred-json \(relation\)/);
  const empty = join(dir, "empty.arrow");
  await Deno.writeFile(empty, new Uint8Array());
  await assert.rejects(countRows(empty), /is not an Arrow file \(it is empty\)/);
  // Streams and files still read.
  assert.ok(await countRows(TREX) > 0);
});

Deno.test("the data convert formats named per schema are convert.ts's", () => {
  const bySchema: Record<string, string[]> = {};
  for (const [f, { schema }] of Object.entries(FORMATS)) (bySchema[schema] ??= []).push(f);
  assert.deepEqual(bySchema, MADE_BY);
});

Deno.test("data convert and encode take --input, and --in as before; not both", async () => {
  const a = await kadapter(
    ...["data", "convert", "--format", "text", "--input", lines, "--out", join(dir, "a.arrow")],
  );
  assert.equal(a.code, 0, a.err);
  const b = await kadapter(
    ...["data", "convert", "--format", "text", "--in", lines, "--out", join(dir, "b.arrow")],
  );
  assert.equal(b.code, 0, b.err);
  assert.equal(await countRows(join(dir, "b.arrow")), 2);
  const both = await kadapter(
    ...["data", "convert", "--format", "text", "--in", lines, "--input", lines],
    ...["--out", join(dir, "c.arrow")],
  );
  assert.equal(both.code, 2);
  assert.match(both.err, /--in and --input are the same option/);
  const help = await kadapter("data", "convert", "--help");
  assert.match(help.out, /--input PATH/);
  assert.doesNotMatch(help.out, /--in /);
  for (const name of ["data convert", "encode"]) {
    assert.deepEqual(COMMANDS[name].spec.options.input.aliases, ["in"], name);
  }
});

Deno.test("data convert, encode and probe lama refuse an existing output without --overwrite", async () => {
  const out = join(dir, "over.arrow");
  const convert = (...extra: string[]) =>
    kadapter("data", "convert", "--format", "text", "--input", lines, "--out", out, ...extra);
  assert.equal((await convert()).code, 0);
  const again = await convert();
  assert.equal(again.code, 1, again.err);
  assert.ok(
    again.err.includes(`--out ${out} already exists; pass --overwrite to replace it`),
    again.err,
  );
  noStack(again.err);
  await Deno.writeTextFile(lines + "3", "a\nb\nc\n");
  const replaced = await kadapter(
    ...["data", "convert", "--format", "text", "--input", lines + "3", "--out", out],
    "--overwrite",
  );
  assert.equal(replaced.code, 0, replaced.err);
  assert.equal(await countRows(out), 3);

  const encoded = join(dir, "enc.safetensors");
  await Deno.writeTextFile(encoded, "not really");
  const enc = await kadapter("encode", "--model", ENCODER, "--input", lines, "--out", encoded);
  assert.equal(enc.code, 1, enc.err);
  assert.match(enc.err, /enc\.safetensors already exists; pass --overwrite/);

  const lamaOut = join(dir, "lama");
  await Deno.mkdir(lamaOut);
  await Deno.writeTextFile(join(lamaOut, "results.json"), "{}");
  const lama = await kadapter(
    ...["probe", "lama", "--model", ENCODER, "--data", TREX, "--out", lamaOut],
  );
  assert.equal(lama.code, 1, lama.err);
  assert.ok(
    lama.err.includes(`results.json in --out ${lamaOut} already exists; pass --overwrite`),
    lama.err,
  );
  // --overwrite gets past the check (and then meets the trex file, not LAMA data).
  const forced = await kadapter(
    ...["probe", "lama", "--model", ENCODER, "--data", TREX, "--out", lamaOut, "--overwrite"],
  );
  assert.doesNotMatch(forced.err, /already exists/);
  assert.match(forced.err, /not lama/);
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});

// Every command answers --help with its usage and every option (defaults shown), and the
// top-level help lists every command; run in-process through the real dispatcher.
import assert from "node:assert/strict";
import { COMMANDS, runCli } from "../src/cli/commands.ts";

async function captured(args: string[]): Promise<{ code: number; out: string }> {
  const log = console.log, lines: string[] = [];
  console.log = (...xs: unknown[]) => lines.push(xs.join(" "));
  try {
    return { code: await runCli(args), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test("kadapter --help lists every command", async () => {
  const { code, out } = await captured(["--help"]);
  assert.equal(code, 0);
  for (const name of Object.keys(COMMANDS)) assert.match(out, new RegExp(`^  ${name} `, "m"));
});

Deno.test("each command's --help lists its options with their defaults", async () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    const { code, out } = await captured([...name.split(" "), "--help"]);
    assert.equal(code, 0, name);
    assert.match(out, new RegExp(`^Usage: kadapter ${name} \\[options\\]`, "m"), name);
    for (const [option, o] of Object.entries(command.spec.options)) {
      const line = out.split("\n").find((l) =>
        l.includes(`--${option} `) || l.endsWith(`--${option}`)
      );
      assert.ok(line, `${name}: --${option} missing from its help`);
      if (o.type === "string" && o.default !== undefined) {
        assert.ok(line.includes(`(default: ${o.default})`), `${name} --${option}: ${line}`);
      }
    }
  }
});

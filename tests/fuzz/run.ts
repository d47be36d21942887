// Runs a kadapter command in this process as main.ts would, with everything it prints
// captured: the exit code, and what a user would see on stderr when it failed.
import { runCli } from "../../src/cli/commands.ts";
import { failure } from "../../src/cli/failure.ts";

export interface Outcome {
  code: number;
  /** The failure text main.ts would print (empty on success). */
  text: string;
  ms: number;
}

export async function runQuiet(args: string[]): Promise<Outcome> {
  const log = console.log, error = console.error, warn = console.warn;
  const out = Deno.stdout.writeSync, err = Deno.stderr.writeSync;
  const swallow = (b: Uint8Array) => b.length;
  console.log = console.error = console.warn = () => {};
  Deno.stdout.writeSync = Deno.stderr.writeSync = swallow;
  const t0 = performance.now();
  try {
    const code = await runCli(args);
    return { code, text: "", ms: performance.now() - t0 };
  } catch (e) {
    return { ...failure(e), ms: performance.now() - t0 };
  } finally {
    console.log = log;
    console.error = error;
    console.warn = warn;
    Deno.stdout.writeSync = out;
    Deno.stderr.writeSync = err;
  }
}

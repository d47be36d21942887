// kadapter: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU.
// This file only runs the command line (src/cli/commands.ts) and turns errors into exit codes.
import { runCli } from "./src/cli/commands.ts";
import { UsageError } from "./src/cli/options.ts";
import { UserError } from "./src/errors.ts";

try {
  Deno.exit(await runCli(Deno.args));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`kadapter: ${e.message}\nRun 'kadapter --help' for usage.`);
    Deno.exit(2);
  }
  // A UserError (bad input, GPU setup) and a file the OS refused explain themselves; anything
  // else is a bug, and its stack helps the report.
  const user = e instanceof UserError || e instanceof Deno.errors.NotFound ||
    e instanceof Deno.errors.PermissionDenied || e instanceof SyntaxError;
  console.error(`kadapter: ${user ? (e as Error).message : (e as Error).stack ?? e}`);
  Deno.exit(1);
}

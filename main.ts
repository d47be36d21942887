// kadapter: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU.
// This file only runs the command line (src/cli/commands.ts) and turns errors into exit codes.
import { runCli } from "./src/cli/commands.ts";
import { UsageError } from "./src/cli/options.ts";
import { errorText } from "./src/errors.ts";

try {
  Deno.exit(await runCli(Deno.args));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`kadapter: ${e.message}\nRun 'kadapter --help' for usage.`);
    Deno.exit(2);
  }
  console.error(`kadapter: ${errorText(e)}`);
  Deno.exit(1);
}

// kadapter: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU.
// This file only runs the command line (src/cli/commands.ts) and turns errors into exit codes.
import { runCli } from "./src/cli/commands.ts";
import { failure } from "./src/cli/failure.ts";
import { fileURLToPath } from "node:url";

// `deno task` runs in the folder of deno.json (this one); INIT_CWD is where the user typed it,
// so that relative paths mean what they meant there. Started anywhere else (a test's child
// process, the compiled binary), the working folder is already the user's. Permissions are
// queried first, so that a sandboxed run is never prompted for them.
function enterInitCwd(): void {
  const here = new URL(".", import.meta.url);
  if (here.protocol !== "file:") return;
  const root = fileURLToPath(here).replace(/[\\/]$/, "");
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  if (!granted({ name: "env", variable: "INIT_CWD" }) || !granted({ name: "read", path: root })) {
    return;
  }
  const dir = Deno.env.get("INIT_CWD");
  if (!dir || dir === root || !granted({ name: "read", path: dir })) return;
  try {
    if (Deno.cwd() === root && Deno.statSync(dir).isDirectory) Deno.chdir(dir);
  } catch {
    // Not a folder, or not readable: stay where deno task put us.
  }
}

try {
  enterInitCwd();
  Deno.exit(await runCli(Deno.args));
} catch (e) {
  const { code, text } = failure(e);
  console.error(text);
  Deno.exit(code);
}

// deno task compile: dist/kadapter through `deno compile`, with what can go wrong said plainly.
// deno compile puts the program into Deno's runtime (denort), which it downloads from
// dl.deno.land, or takes from DENORT_BIN. Offline the download fails with a backtrace, and the
// full `deno` binary as DENORT_BIN builds a program that only prints Deno's own help; so
// DENORT_BIN is checked first, deno compile's failure becomes one paragraph, and the binary
// built is run once (--help) and deleted unless it answers as kadapter.
//
// Usage: deno run --allow-read --allow-write --allow-env --allow-run tools/compile.ts
//   [deno compile options, e.g. --target x86_64-apple-darwin]
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = "dist/kadapter";
const VERSION = Deno.version.deno;
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env"];

class CompileError extends Error {}

function targetOf(args: string[]): string {
  const i = args.findIndex((a) => a === "--target" || a.startsWith("--target="));
  if (i < 0) return Deno.build.target;
  return args[i].includes("=") ? args[i].split("=")[1] : args[i + 1] ?? Deno.build.target;
}

/** Where to get the runtime for `target`, and what to do with it. */
function getDenort(target: string): string {
  return `download denort-${target}.zip for Deno ${VERSION} (from ` +
    `https://github.com/denoland/deno/releases/tag/v${VERSION}, or ` +
    `https://dl.deno.land/release/v${VERSION}/denort-${target}.zip, on a machine that is ` +
    `online), unzip it and set DENORT_BIN to the unzipped \`denort\` file: ` +
    `DENORT_BIN=/path/to/denort deno task compile`;
}

// deno-lint-ignore no-control-regex
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

async function output(cmd: string, args: string[], timeoutMs: number) {
  const r = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: strip(dec.decode(r.stdout)), err: strip(dec.decode(r.stderr)) };
}

/** Refuses a DENORT_BIN that does not exist or is the deno CLI rather than its runtime. */
async function checkDenort(path: string, target: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new CompileError(`DENORT_BIN=${path}: no such file; ${getDenort(target)}`);
  }
  if (!info.isFile) {
    throw new CompileError(`DENORT_BIN=${path} is not a file; ${getDenort(target)}`);
  }
  const name = basename(path).replace(/\.exe$/, "");
  // The CLI answers --version with "deno X.Y.Z (...)"; denort has no program to run and does not.
  let cli = name === "deno";
  if (!cli && target === Deno.build.target) {
    try {
      cli = /^deno \d/.test((await output(path, ["--version"], 10_000)).out);
    } catch {
      // Not runnable here (or too slow): only its name is checked.
    }
  }
  if (cli) {
    throw new CompileError(
      `DENORT_BIN=${path} is the deno command-line tool, not its runtime: a binary built ` +
        `on it only prints Deno's help. DENORT_BIN must be denort; ${getDenort(target)}`,
    );
  }
}

async function compile(args: string[]): Promise<void> {
  const target = targetOf(args), denort = Deno.env.get("DENORT_BIN");
  if (denort) await checkDenort(denort, target);
  await Deno.mkdir(`${ROOT}dist`, { recursive: true });
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["compile", ...PERMISSIONS, ...args, "--output", OUT, "main.ts"],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const err = strip(new TextDecoder().decode(r.stderr));
  if (!r.success) {
    // The deepest "Caused by" line says most (dns error, connection refused), else "error:".
    const lines = err.split("Stack backtrace")[0].split("\n").map((l) => l.trim());
    const causes = lines.filter((l) => /^\d+: /.test(l)).map((l) => l.replace(/^\d+: /, ""));
    const first = causes.at(-1) ?? lines.find((l) => l.startsWith("error")) ?? "";
    const cause = first ? ` (${first.replace(/^error:\s*/i, "")})` : "";
    throw new CompileError(
      denort
        ? `deno compile failed with DENORT_BIN=${denort}${cause}. Check that it is the ` +
          `denort of Deno ${VERSION} for ${target}; ${getDenort(target)}`
        : `deno compile failed${cause}. It downloads Deno's runtime (denort) for ${target} ` +
          `from dl.deno.land: online, that host must be reachable (a proxy goes in ` +
          `HTTPS_PROXY); offline, ${getDenort(target)}`,
    );
  }
  // deno compile's own progress lines, without its warnings' colour codes.
  if (err.trim()) console.error(err.trim());
  if (target !== Deno.build.target) {
    console.log(`built ${OUT} for ${target} (not run here: another platform)`);
    return;
  }
  const bin = `${ROOT}${OUT}`;
  let help = "";
  try {
    help = (await output(bin, ["--help"], 60_000)).out;
  } catch (e) {
    help = String(e);
  }
  if (!/^kadapter \S+: /.test(help)) {
    await Deno.remove(bin).catch(() => {});
    throw new CompileError(
      `the built binary is not a kadapter binary (its --help printed ` +
        `${JSON.stringify(help.split("\n")[0].slice(0, 80))}), so it was deleted. ` +
        (denort ? `DENORT_BIN must be the runtime, denort; ${getDenort(target)}` : ""),
    );
  }
  console.log(`built ${OUT}: ${help.split("\n")[0]}`);
}

try {
  await compile(Deno.args);
} catch (e) {
  if (!(e instanceof CompileError)) throw e;
  console.error(`compile: ${e.message}`);
  Deno.exit(1);
}

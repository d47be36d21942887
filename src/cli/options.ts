// Command-line options: one table per command gives parsing (node:util parseArgs), the
// defaults and the --help text, so the three never disagree.
import { UserError } from "../errors.ts";
import { parseArgs } from "node:util";
import { didYouMean } from "./suggest.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
  /** Placeholder shown in help for string options (e.g. DIR, N). */
  arg?: string;
  short?: string;
  /** Other names this option answers to, left out of --help (older spellings). */
  aliases?: string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Extra help text after the option list. */
  details?: string;
  options: Record<string, OptionSpec>;
}

export interface Command {
  spec: CommandSpec;
  /** Runs with already-parsed options; returns the process exit code. */
  run(values: Values): Promise<number>;
}

export type Values = Record<string, string | boolean | undefined>;

/** A bad command line: main prints it with the usage hint and exits with code 2. */
export class UsageError extends UserError {}

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`;
    const def = o.default !== undefined && o.type === "string" ? ` (default: ${o.default})` : "";
    return [flag, o.help + def];
  });
  rows.push(["-h, --help", "show this help"]);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  const lines = [
    `kadapter ${spec.name}: ${spec.summary}`,
    "",
    `Usage: kadapter ${spec.name} [options]`,
    "",
    "Options:",
    ...rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`),
  ];
  if (spec.details) lines.push("", spec.details);
  return lines.join("\n");
}

type ParseOptions = Record<string, { type: "string" | "boolean"; short?: string }>;

/**
 * `--batch -4` as `--batch=-4`: parseArgs takes a token starting with "-" for an option, so a
 * negative number after a string option would never reach the option's own range check.
 */
function joinNegativeValues(args: string[], options: ParseOptions): string[] {
  const byShort = new Map(
    Object.entries(options).filter(([, o]) => o.short).map(([n, o]) => [o.short!, n]),
  );
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i], next = args[i + 1];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const name = /^--[^=]+$/.test(a) ? a.slice(2) : /^-[^-]$/.test(a) ? byShort.get(a[1]) : null;
    const takesValue = name != null && Object.hasOwn(options, name) &&
      options[name].type === "string";
    if (takesValue && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Parses a command's arguments; returns null after printing help. */
export function parseCommand(spec: CommandSpec, args: string[]): Values | null {
  const options: ParseOptions = { help: { type: "boolean", short: "h" } };
  const aliasOf = new Map<string, string>();
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
    for (const a of o.aliases ?? []) {
      options[a] = { type: o.type };
      aliasOf.set(a, name);
    }
  }
  args = joinNegativeValues(args, options);
  // A first, lenient pass finds unknown options and stray words, to name the nearest option.
  const { tokens } = parseArgs({
    args,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens) {
    if (t.kind === "option" && !Object.hasOwn(options, t.name)) {
      const hint = didYouMean(t.name, [...Object.keys(spec.options), "help"], (n) => `--${n}`);
      throw new UsageError(`${spec.name}: unknown option ${t.rawName}${hint}`);
    }
    if (t.kind === "positional") {
      throw new UsageError(
        `${spec.name}: unexpected argument "${t.value}" (every value follows its --option)`,
      );
    }
  }
  let values: Values;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(`${spec.name}: ${(e as Error).message}`);
  }
  if (values.help) {
    console.log(helpText(spec));
    return null;
  }
  for (const [alias, name] of aliasOf) {
    if (values[alias] === undefined) continue;
    if (values[name] !== undefined) {
      throw new UsageError(`${spec.name}: --${alias} and --${name} are the same option; give one`);
    }
    values[name] = values[alias];
    delete values[alias];
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (values[name] === undefined && o.default !== undefined) values[name] = o.default;
  }
  return values;
}

/** A string option that must be given. */
export function requiredOption(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

/** A numeric option within [min, max] (an integer when `integer`). */
export function numberOption(
  values: Values,
  name: string,
  { min = 0, max = 2 ** 31 - 1, integer = true } = {},
): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number in [${min}, ${max}], got ${raw}`);
  }
  if (integer && !Number.isInteger(n)) {
    throw new UsageError(`--${name} must be an integer, got ${raw}`);
  }
  return n;
}

/** A string option's spec: its placeholder, help and default (shown in --help). */
export function stringOption(arg: string, help: string, def?: string | number): OptionSpec {
  return { type: "string", arg, help, ...(def !== undefined ? { default: String(def) } : {}) };
}

/** A numeric option as numberOption reads it, or undefined when it is not given. */
export function optionalNumber(
  values: Values,
  name: string,
  range: Parameters<typeof numberOption>[2] = {},
): number | undefined {
  return values[name] === undefined ? undefined : numberOption(values, name, range);
}

/** A string option that must be one of `allowed`. */
export function choiceOption<T extends string>(
  values: Values,
  name: string,
  allowed: readonly T[],
): T {
  const x = values[name];
  if (!allowed.includes(x as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got ${x}`);
  }
  return x as T;
}

/** `--force`, beside --adapters in every command that takes it (encoder_identity.ts). */
export const forceFlag: Record<string, OptionSpec> = {
  force: {
    type: "boolean",
    help: "use --adapters folders trained on an encoder with another vocabulary, or of " +
      "another kind than their name says (fac=, lin=), with a warning instead of an error",
  },
};

/**
 * `--overwrite` of the commands that write a file or a folder of results (data convert, encode,
 * probe lama); the training commands' own (run_options.ts) deletes a previous run instead.
 */
export const overwriteFlag: Record<string, OptionSpec> = {
  overwrite: {
    type: "boolean",
    help: "replace what --out names when it exists (default: refuse)",
  },
};

/** An output kadapter will not replace without --overwrite. */
export class OutputExistsError extends UserError {}

/**
 * Throws OutputExistsError for the first of `paths` that exists, unless --overwrite is given.
 * `what` names them in the message ("--out x.arrow", "results.json in runs/lama").
 */
export async function refuseOverwrite(values: Values, paths: string[], what?: string) {
  if (values.overwrite === true) return;
  for (const p of paths) {
    try {
      await Deno.lstat(p);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    throw new OutputExistsError(
      `${what ?? p} already exists; pass --overwrite to replace it, or pick another --out`,
    );
  }
}

const ADAPTER_NAME = /^[A-Za-z0-9_.-]+$/;

/** --adapters NAME=DIR,NAME=DIR,...: checked before anything is loaded; [] without the flag. */
export function parseAdapters(values: Values): { name: string; dir: string }[] {
  const raw = values.adapters;
  if (raw === undefined) return [];
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new UsageError("--adapters needs NAME=DIR[,NAME=DIR...]");
  }
  const seen = new Set<string>();
  return raw.split(",").map((item) => {
    const eq = item.indexOf("=");
    const name = eq < 0 ? "" : item.slice(0, eq), dir = eq < 0 ? "" : item.slice(eq + 1);
    if (eq < 0 || dir === "") {
      throw new UsageError(`--adapters: "${item}" is not NAME=DIR`);
    }
    if (!ADAPTER_NAME.test(name)) {
      throw new UsageError(
        `--adapters: "${item}": the name must be letters, digits, '_', '.' or '-'`,
      );
    }
    if (seen.has(name)) throw new UsageError(`--adapters: the name "${name}" is given twice`);
    seen.add(name);
    return { name, dir };
  });
}

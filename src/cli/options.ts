// Command-line options: one table per command gives parsing (node:util parseArgs), the
// defaults and the --help text, so the three never disagree.
import { UserError } from "../errors.ts";
import { parseArgs } from "node:util";

export interface OptionSpec {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
  /** Placeholder shown in help for string options (e.g. DIR, N). */
  arg?: string;
  short?: string;
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

/** Parses a command's arguments; returns null after printing help. */
export function parseCommand(spec: CommandSpec, args: string[]): Values | null {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
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

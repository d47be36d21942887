// Two kinds of failure. A UserError is the user's to fix (a bad flag, file, dataset, folder or
// GPU setup): main prints its message as one paragraph. Anything else is a bug in kadapter:
// main prints its stack so that the report can point at the line.
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * What to print for an error: a UserError, or a file the system refused (missing, no
 * permission, not JSON), as its message; anything else, a bug, with its stack.
 */
export function errorText(e: unknown): string {
  const user = e instanceof UserError || e instanceof Deno.errors.NotFound ||
    e instanceof Deno.errors.PermissionDenied || e instanceof SyntaxError;
  if (user) return (e as Error).message;
  return e instanceof Error ? e.stack ?? String(e) : String(e);
}

/** A value as an error message shows it: JSON (or "nothing"), cut to `max` characters. */
export function brief(v: unknown, max = 60): string {
  let t: string;
  try {
    t = v === undefined ? "nothing" : JSON.stringify(v) ?? String(v);
  } catch {
    t = String(v); // a bigint, or a value JSON cannot show
  }
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

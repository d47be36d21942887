// What a failed command prints and exits with, in one place: main.ts uses it, and so does the
// fuzz suite (tests/fuzz), which runs commands in-process and must judge them as a user's
// shell would.
import { errorText } from "../errors.ts";
import { UsageError } from "./options.ts";

/** The stderr text and exit code of a command that threw `e`: 2 for usage, else 1. */
export function failure(e: unknown): { code: number; text: string } {
  if (e instanceof UsageError) {
    return { code: 2, text: `kadapter: ${e.message}\nRun 'kadapter --help' for usage.` };
  }
  return { code: 1, text: `kadapter: ${errorText(e)}` };
}

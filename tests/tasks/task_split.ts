// What the task tests share to reach a task's `evaluate`: a Split of examples a test built
// itself (example i from row i, nothing skipped or dropped).
import type { Split, Store } from "../../src/tasks/task.ts";

export function splitOf<St extends Store<unknown>>(ex: St): Split<St> {
  return {
    ex,
    rows: Array.from({ length: ex.length }, (_, i) => i),
    report: { rows: ex.length, kept: ex.length, skipped: new Map(), altered: new Map() },
    dropped: new Map(),
  };
}

/** Progress output silenced. */
export const QUIET = { progress: { write: () => {} } };

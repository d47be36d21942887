// The closing lines of a training command and its exit code.
import type { RunOutcome } from "../train/runner.ts";

/**
 * Prints the step reached, the last loss, the dev metrics and the best checkpoint, then where
 * `what` was written and the report page, if one was. Returns 130 when Ctrl-C stopped the run
 * (as shells report a SIGINT exit), else 0.
 */
export function reportRun(r: RunOutcome, what: string, out: string): number {
  const parts = [
    r.losses.length ? `loss ${r.losses.at(-1)!.toFixed(4)}` : "",
    r.dev ? "dev " + Object.entries(r.dev).map(([k, x]) => `${k} ${x.toFixed(4)}`).join(", ") : "",
    r.best
      ? `best ${r.best.metric} ${r.best.value.toFixed(4)} at step ${r.best.step} in ${r.bestDir}`
      : "",
  ].filter((p) => p !== "");
  console.log(`step ${r.step}/${r.totalSteps}${parts.length ? `: ${parts.join("; ")}` : ""}`);
  console.log(`${what}; curves in ${out}/curves.svg`);
  if (r.reportPath) console.log(`report in ${r.reportPath}`);
  return r.interrupted ? 130 : 0;
}

// The closing lines of a training command, its --report page, and its exit code.
import { writeRunReport } from "../report/run_page.ts";
import type { TrainResult } from "../train/loop.ts";
import type { Values } from "./options.ts";

/**
 * Prints the step reached, the last loss, the dev metrics and the best checkpoint, then where
 * `what` was written; with --report, writes `out`/report.html titled `title`. Returns 130 when
 * Ctrl-C stopped the run (as shells report a SIGINT exit), else 0.
 */
export async function reportRun(
  r: TrainResult & { dev: Record<string, number> | null; bestDir: string | null },
  what: string,
  out: string,
  v: Values,
  title: string,
): Promise<number> {
  const loss = r.losses.length ? ` loss ${r.losses.at(-1)!.toFixed(4)}` : "";
  const dev = r.dev
    ? "; dev " + Object.entries(r.dev).map(([k, x]) => `${k} ${x.toFixed(4)}`).join(", ")
    : "";
  const best = r.best
    ? `; best ${r.best.metric} ${r.best.value.toFixed(4)} at step ${r.best.step} in ${r.bestDir}`
    : "";
  console.log(`step ${r.step}/${r.totalSteps}:${loss}${dev}${best}`);
  console.log(`${what}; curves in ${out}/curves.svg`);
  if (v.report === true) console.log(`report in ${await writeRunReport(out, title)}`);
  return r.interrupted ? 130 : 0;
}

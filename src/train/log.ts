// Metrics log: one JSON object per line, appended and written through at once, so a
// crashed or interrupted run leaves every line it logged (and a tail -f sees them live).
// A run folder's log can hold earlier attempts: a run killed before its first checkpoint and
// started again, or records a killed run logged past the checkpoint it resumes from.
// `currentRun` gives the records of the run as it now stands.
import { refused } from "../formats/atomic.ts";
import { TensorBoardWriter } from "./tensorboard.ts";

const encoder = new TextEncoder();

export class JsonlLog {
  readonly #file: Deno.FsFile;

  /** Opens `path` for appending (created with its folder if missing). */
  constructor(readonly path: string) {
    const dir = path.replace(/[/\\][^/\\]*$/, "");
    try {
      if (dir !== path) Deno.mkdirSync(dir, { recursive: true });
      this.#file = Deno.openSync(path, { append: true, create: true });
    } catch (e) {
      throw refused(path, e);
    }
  }

  /** Writes one record with the wall-clock time added. */
  write(record: Record<string, unknown>): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...record }) + "\n";
    const bytes = encoder.encode(line);
    let at = 0;
    try {
      while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
    } catch (e) {
      throw refused(this.path, e);
    }
  }

  close(): void {
    this.#file.close();
  }
}

/**
 * A training run's log: metrics.jsonl, and with `tensorboard` the same scalars as TensorBoard
 * events in that folder, under the Hugging Face Trainer's tags (train/loss,
 * train/learning_rate, train/grad_norm, eval/<metric>) so runs compare side by side.
 */
export class RunLog {
  readonly #jsonl: JsonlLog;
  readonly #tb: TensorBoardWriter | null;

  constructor(path: string, tensorboard?: string) {
    this.#jsonl = new JsonlLog(path);
    this.#tb = tensorboard ? new TensorBoardWriter(tensorboard) : null;
  }

  write(record: Record<string, unknown>): void {
    this.#jsonl.write(record);
    const tb = this.#tb, step = record.step;
    if (!tb || typeof step !== "number") return;
    const values: Record<string, number> = {};
    if (record.event === "train") {
      for (const [key, tag] of TRAIN_TAGS) {
        if (typeof record[key] === "number") values[tag] = record[key] as number;
      }
    } else if (record.event === "eval") {
      for (const [k, v] of Object.entries(record)) {
        if (k !== "step" && typeof v === "number") values[`eval/${k}`] = v;
      }
    }
    if (Object.keys(values).length) tb.scalars(values, step);
  }

  close(): void {
    this.#jsonl.close();
    this.#tb?.close();
  }
}

const TRAIN_TAGS = [
  ["loss", "train/loss"],
  ["lr", "train/learning_rate"],
  ["grad_norm", "train/grad_norm"],
] as const;

/** Reads a JSON-lines file back (tests, reports). */
export function readJsonl(path: string): Record<string, unknown>[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
}

/**
 * The records of the run as it stands: from the last `start` on (an earlier start is an
 * attempt that saved no checkpoint), and at each `resume` from step s, without the records of
 * steps after s logged before it (the killed run's steps, which the resumed run redoes) and
 * without an earlier `done` (a finished run resumed to extend it).
 */
export function currentRun(records: Record<string, unknown>[]): Record<string, unknown>[] {
  const from = records.findLastIndex((r) => r.event === "start");
  const out: Record<string, unknown>[] = [];
  for (const r of records.slice(Math.max(0, from))) {
    if (r.event === "resume" && typeof r.step === "number") {
      const s = r.step;
      const kept = out.filter((x) =>
        x.event !== "done" && (typeof x.step !== "number" || x.step <= s)
      );
      out.length = 0;
      out.push(...kept);
    }
    out.push(r);
  }
  return out;
}

/** `currentRun` of a metrics.jsonl file. */
export function readRunLog(path: string): Record<string, unknown>[] {
  return currentRun(readJsonl(path));
}

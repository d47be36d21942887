// What a run's metrics log says about the run beyond its curves: the settings under the flag
// names a user types (only those that decided the run), the kadapter version and device of each
// start/resume record (logs written before they were recorded have neither), and the time spent
// computing (each start/resume segment's span, so a pause between a Ctrl-C and a --resume does
// not count). Scores are shown in percent throughout the reports.
import { metricUnit } from "../train/plot.ts";
import { isObject } from "../formats/json.ts";

type Rec = Record<string, unknown>;

/** A metric's value as the reports print it: scores in percent, losses and perplexity plain. */
export function metricValue(name: string, v: number): string {
  return metricUnit(name) === "score" ? `${(v * 100).toFixed(2)}%` : v.toFixed(4);
}

/** Recorded settings that are no flag of their own, and the flags spelled otherwise. */
const NAMES: Record<string, string> = {
  task: "task",
  labels: "labels",
  headDropout: "--dropout",
  maskProb: "--mask-prob",
  maskProbability: "--mask-prob",
};

/** The adapter shape's fields (train fac|lin records them as `adapter`) and their flags. */
const ADAPTER_FLAGS: Record<string, string> = {
  adapterHidden: "--adapter-size",
  heads: "--adapter-heads",
  intermediate: "--adapter-ffn",
  layers: "--adapter-layers",
  adapterList: "--adapter-list",
  mask: "--adapter-mask",
  combine: "--combine",
  dropout: "--dropout",
};

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const flagName = (k: string) => NAMES[k] ?? `--${kebab(k)}`;

/**
 * The settings of a start/resume record's `config` as [name, value] pairs: flag names, values as
 * given; left out: unset values, flags not given (false), --epochs when --steps decided the
 * length (and --steps when epochs did), and the total steps the run had (`total`) added.
 */
export function settingsPairs(config: Rec, total?: unknown): [string, string][] {
  const flat: Rec = {}, names: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (k === "settings" && isObject(v)) Object.assign(flat, v);
    else if (k === "adapter" && isObject(v)) {
      for (const [a, x] of Object.entries(v)) {
        flat[`adapter.${a}`] = x;
        names[`adapter.${a}`] = ADAPTER_FLAGS[a] ?? `adapter ${a}`;
      }
    } else flat[k] = v;
  }
  // The warmup the run used, when the schedule cut the one asked for.
  if (typeof flat.warmupSteps === "number" && flat.warmup !== undefined) {
    flat.warmup = `${flat.warmup} (${flat.warmupSteps} used)`;
    delete flat.warmupSteps;
  }
  // Finetune records adapter names and folders apart; the flag takes NAME=DIR pairs.
  if (Array.isArray(flat.adapters) && Array.isArray(flat.adapterDirs)) {
    const dirs = flat.adapterDirs as unknown[];
    flat.adapters = (flat.adapters as unknown[]).map((a, i) => `${a}=${dirs[i]}`);
    delete flat.adapterDirs;
  }
  if (flat.steps !== null && flat.steps !== undefined) delete flat.epochs;
  else delete flat.steps;
  const out: [string, string][] = [];
  const shown = new Map<string, string>();
  for (const [k, v] of Object.entries(flat)) {
    if (v === null || v === undefined || v === false) continue;
    let text: string;
    if (v === true) text = "yes";
    else if (Array.isArray(v)) {
      if (k === "adapters" && !v.length) text = "none";
      else if (!v.length) continue;
      else text = (k === "labels" ? `${v.length}: ` : "") + v.join(k === "labels" ? ", " : ",");
    } else text = typeof v === "string" ? v : JSON.stringify(v);
    // One flag can set two recorded values (train's --dropout: adapter and head); once if equal.
    const name = names[k] ?? flagName(k);
    if (shown.get(name) === text) continue;
    const key = shown.has(name) ? `${name} (${k})` : name;
    shown.set(name, text);
    out.push([key, text]);
  }
  if (typeof total === "number") out.push(["total steps", String(total)]);
  return out;
}

/** The records from the last `start` on (earlier ones are attempts that were started over). */
function fromLastStart(records: Rec[]): Rec[] {
  return records.slice(Math.max(0, records.findLastIndex((r) => r.event === "start")));
}

/** Distinct values of `key` over the start/resume records, in order. */
function recorded(records: Rec[], key: string): string[] {
  const values = fromLastStart(records)
    .filter((r) => (r.event === "start" || r.event === "resume") && typeof r[key] === "string")
    .map((r) => r[key] as string);
  return [...new Set(values)];
}

/**
 * Seconds spent computing: for each segment that a start or resume record opens, from its time
 * to the last record's time before the next one. Null when no record has a time.
 */
export function elapsedSeconds(records: Rec[]): number | null {
  let total = 0, from: number | null = null, last: number | null = null, any = false;
  const close = () => {
    if (from !== null && last !== null) total += Math.max(0, last - from);
  };
  for (const r of fromLastStart(records)) {
    const t = typeof r.time === "string" ? Date.parse(r.time) : NaN;
    if (r.event === "start" || r.event === "resume") {
      close();
      from = Number.isFinite(t) ? t : null;
      last = from;
    } else if (Number.isFinite(t) && from !== null) {
      last = t;
      any = true;
    }
  }
  close();
  return any ? total / 1000 : null;
}

/** "42.0 s", "3 min 05 s", "1 h 02 min". */
export function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
  return h > 0
    ? `${h} h ${String(m).padStart(2, "0")} min`
    : `${m} min ${String(t % 60).padStart(2, "0")} s`;
}

/** The kadapter version, device and elapsed time of a run, each only when the log has it. */
export function runFacts(records: Rec[]): [string, string][] {
  const out: [string, string][] = [];
  const version = recorded(records, "version"), device = recorded(records, "device");
  if (version.length) out.push(["kadapter", version.join(", then ")]);
  if (device.length) out.push(["device", device.join(", then ")]);
  const s = elapsedSeconds(records);
  const segments = fromLastStart(records).filter((r) => r.event === "resume").length + 1;
  if (s !== null) {
    out.push([
      "time",
      duration(s) + (segments > 1 ? ` (computing, over ${segments} sessions)` : ""),
    ]);
  }
  return out;
}

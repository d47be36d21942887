// A progress bar on stderr: count, rate, ETA and extra fields (loss, lr). On a terminal it
// redraws one line; otherwise (CI, pipes, log files) it prints a plain line every
// `every` seconds and at the end, so logs stay short.
const encoder = new TextEncoder();

export interface ProgressOptions {
  /** Text before the bar. */
  label?: string;
  /** What is counted, shown after the count and in the rate (default: "it"). */
  unit?: string;
  /** Seconds between plain lines when stderr is not a terminal. */
  every?: number;
  /** Override terminal detection (tests). */
  tty?: boolean;
  /** Where lines go (default: stderr). */
  write?: (text: string) => void;
  /** Milliseconds clock (tests; default: performance.now). */
  now?: () => number;
}

/** Seconds as m:ss or h:mm:ss. */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
  const ss = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export class Progress {
  readonly label: string;
  readonly unit: string;
  readonly #tty: boolean;
  readonly #every: number;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  #done = 0;
  #lastLine = -Infinity;
  #lastDraw = -Infinity;
  #fields: Record<string, string> = {};
  /** When the first tick came and what it counted: the rate leaves it out (compilation). */
  #first: { at: number; done: number } | null = null;

  constructor(readonly total: number, opts: ProgressOptions = {}) {
    this.label = opts.label ?? "";
    this.unit = opts.unit ?? "it";
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#every = opts.every ?? 10;
    this.#write = opts.write ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /**
   * Items per second: after the second tick, over the items since the first (the first item
   * of a run compiles its kernels, so counting it would inflate the ETA many times over).
   */
  get rate(): number {
    const now = this.#now(), f = this.#first;
    if (f && this.#done > f.done && now > f.at) {
      return (this.#done - f.done) / ((now - f.at) / 1000);
    }
    return this.#done / Math.max(1e-9, (now - this.#start) / 1000);
  }

  get elapsed(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /** Advances by n and replaces the extra fields given (numbers shown to 4 digits). */
  tick(n = 1, fields: Record<string, number | string> = {}): void {
    this.#done = Math.min(this.total, this.#done + n);
    this.#first ??= { at: this.#now(), done: this.#done };
    for (const [k, v] of Object.entries(fields)) {
      this.#fields[k] = typeof v === "number" ? fmtNumber(v) : v;
    }
    const now = this.#now();
    const last = this.#done === this.total;
    if (this.#tty) {
      // Redrawing costs a syscall and a terminal repaint: at most ~10 per second.
      if (now - this.#lastDraw < 100 && !last) return;
      this.#lastDraw = now;
      this.#write(`\r\x1b[2K${this.line(true)}`);
    } else if (now - this.#lastLine >= this.#every * 1000 || last) {
      this.#lastLine = now;
      this.#write(this.line(false) + "\n");
    }
  }

  /** Prints whole lines above the bar (on a terminal the bar is redrawn below them). */
  note(text: string): void {
    if (!this.#tty) return this.#write(text + "\n");
    this.#write(`\r\x1b[2K${text}\n${this.line(true)}`);
  }

  /** Ends the bar (a newline on a terminal); call once, also when stopping early. */
  finish(): void {
    if (this.#tty) this.#write(`\r\x1b[2K${this.line(true)}\n`);
    else if (this.#done < this.total) this.#write(this.line(false) + "\n");
  }

  /** The status text, with a bar when `bar`. */
  line(bar: boolean): string {
    const frac = this.total > 0 ? this.#done / this.total : 1;
    const rate = this.rate;
    const eta = rate > 0 ? (this.total - this.#done) / rate : Infinity;
    const width = 24, full = Math.round(frac * width);
    const parts = [
      this.label,
      bar ? `[${"#".repeat(full)}${".".repeat(width - full)}]` : "",
      `${this.#done}/${this.total}${this.unit === "it" ? "" : ` ${this.unit}`}`,
      `${(frac * 100).toFixed(0)}%`,
      `${fmtNumber(rate)} ${this.unit}/s`,
      `elapsed ${fmtDuration(this.elapsed)}`,
      `ETA ${fmtDuration(eta)}`,
      ...Object.entries(this.#fields).map(([k, v]) => `${k}=${v}`),
    ];
    return parts.filter((p) => p !== "").join(" ");
  }
}

function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toPrecision(4);
}

// A progress bar on stderr: count, rate, ETA and extra fields (loss, lr). On a terminal it
// redraws one line; otherwise (CI, pipes, log files) it prints a plain line every
// `every` seconds and at the end, so logs stay short.
const encoder = new TextEncoder();

export interface ProgressOptions {
  /** Text before the bar. */
  label?: string;
  /** Seconds between plain lines when stderr is not a terminal. */
  every?: number;
  /** Override terminal detection (tests). */
  tty?: boolean;
  /** Where lines go (default: stderr). */
  write?: (text: string) => void;
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
  readonly #tty: boolean;
  readonly #every: number;
  readonly #write: (text: string) => void;
  readonly #start = performance.now();
  #done = 0;
  #lastLine = -Infinity;
  #lastDraw = -Infinity;
  #fields: Record<string, string> = {};

  constructor(readonly total: number, opts: ProgressOptions = {}) {
    this.label = opts.label ?? "";
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#every = opts.every ?? 10;
    this.#write = opts.write ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
  }

  /** Items per second since the start. */
  get rate(): number {
    return this.#done / Math.max(1e-9, (performance.now() - this.#start) / 1000);
  }

  get elapsed(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /** Advances by n and replaces the extra fields given (numbers shown to 4 digits). */
  tick(n = 1, fields: Record<string, number | string> = {}): void {
    this.#done = Math.min(this.total, this.#done + n);
    for (const [k, v] of Object.entries(fields)) {
      this.#fields[k] = typeof v === "number" ? fmtNumber(v) : v;
    }
    const now = performance.now();
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
      `${this.#done}/${this.total}`,
      `${(frac * 100).toFixed(0)}%`,
      `${fmtNumber(rate)} it/s`,
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

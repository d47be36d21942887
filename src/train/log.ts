// Metrics log: one JSON object per line, appended and written through at once, so a
// crashed or interrupted run leaves every line it logged (and a tail -f sees them live).
const encoder = new TextEncoder();

export class JsonlLog {
  readonly #file: Deno.FsFile;

  /** Opens `path` for appending (created with its folder if missing). */
  constructor(readonly path: string) {
    const dir = path.replace(/[/\\][^/\\]*$/, "");
    if (dir !== path) Deno.mkdirSync(dir, { recursive: true });
    this.#file = Deno.openSync(path, { append: true, create: true });
  }

  /** Writes one record with the wall-clock time added. */
  write(record: Record<string, unknown>): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...record }) + "\n";
    const bytes = encoder.encode(line);
    let at = 0;
    while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
  }

  close(): void {
    this.#file.close();
  }
}

/** Reads a JSON-lines file back (tests, reports). */
export function readJsonl(path: string): Record<string, unknown>[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
}

// PyTorch as a benchmark peer: tools/reference/bench_torch.py --serve in a child process,
// one JSON line per command and reply. A benchmark peer only: nothing in src/ uses it.
const SCRIPT = new URL("../tools/reference/bench_torch.py", import.meta.url).pathname;

/** The peer's first line: torch version, threads, device, the BLAS it loaded. */
export interface TorchInfo {
  torch: string;
  threads: number;
  default_threads: number;
  device: string;
  blas: string;
  config: string | null;
  core: string | null;
}

type Reply = Record<string, unknown>;

export class TorchPeer {
  #next = 0;

  private constructor(
    readonly info: TorchInfo,
    readonly child: Deno.ChildProcess,
    readonly writer: WritableStreamDefaultWriter<Uint8Array>,
    readonly lines: ReadableStreamDefaultReader<string>,
  ) {}

  /** Starts the peer, or returns why it cannot run (no python, no torch, no CUDA). */
  static async start(
    python: string,
    threads: number,
    device: "cpu" | "cuda",
  ): Promise<TorchPeer | string> {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(python, {
        args: [SCRIPT, "--serve", "--threads", String(threads), "--device", device],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      return `${python} cannot be run (${e instanceof Error ? e.message : e})`;
    }
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())
      .getReader();
    const first = await lines.read();
    const info = first.done ? null : JSON.parse(first.value);
    if (!info || info.error) {
      const err = info ? "" : await new Response(child.stderr).text();
      await child.stdin.close().catch(() => {});
      await child.status;
      return info?.error ??
        `${python} ${SCRIPT} failed: ${err.trim().split("\n").at(-1) || "no output"}`;
    }
    return new TorchPeer(info, child, child.stdin.getWriter(), lines);
  }

  async #ask(cmd: Reply): Promise<Reply> {
    await this.writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    const r = await this.lines.read();
    if (r.done) throw new Error("the torch peer exited");
    const reply = JSON.parse(r.value);
    if (reply.error) throw new Error(`torch: ${reply.error}`);
    return reply;
  }

  /** Builds a case and runs it once (the warm-up); its id and the warm-up's ms. */
  async prepare(c: Reply): Promise<{ id: number; warmMs: number }> {
    const id = this.#next++;
    const r = await this.#ask({ id, case: c });
    return { id, warmMs: r.warm_ms as number };
  }

  async time(id: number): Promise<number> {
    return (await this.#ask({ id, time: true })).ms as number;
  }

  async drop(id: number): Promise<void> {
    await this.#ask({ id, drop: true });
  }

  async close(): Promise<void> {
    await this.writer.close().catch(() => {});
    await this.child.status;
    await this.child.stderr.cancel().catch(() => {});
  }

  /** "torch 1.13.0, 1 intra-op thread (default 1), cpu, OpenBLAS ... core Zen". */
  describe(): string {
    const i = this.info;
    const blas = i.config ? `${i.config}, core ${i.core}` : `BLAS ${i.blas}`;
    return `torch ${i.torch}, ${i.threads} intra-op thread(s) (its default here: ` +
      `${i.default_threads}), device ${i.device}, ${blas}`;
  }
}

/** Text chunks to lines (no dependency: the GPU machine the check runs on has no network). */
function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, out) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) out.enqueue(p);
    },
    flush(out) {
      if (rest) out.enqueue(rest);
    },
  });
}

// Non-finite weights (NaN, Inf) in loaded tensors: a damaged file would otherwise run and write
// NaN everywhere. A load adds every tensor it writes to a FiniteCheck; verify() then counts the
// NaN/Inf of all f32 tensors in one GPU reduction and one readback (f16 targets are counted on
// the host before the cast, values too large for f16 included), and only when that count is
// non-zero makes a second pass per tensor to name the offending ones.
import { nonFiniteCount, type Tensor } from "../tensor/mod.ts";

/** How a load treats NaN/Inf weights: refused unless allowNonFinite (then a warning). */
export interface FiniteOptions {
  /** Load non-finite weights anyway, with a warning on stderr (--allow-nonfinite). */
  allowNonFinite?: boolean;
}

/** The largest f32 value that rounds to a finite f16 (65504 + half a step). */
const F16_LIMIT = 65520;
/** Offending tensors named in one message. */
const SHOWN = 3;

interface Entry {
  /** The file holding the tensor, as the message names it. */
  file: string;
  name: string;
  gpu: Tensor[];
  /** NaN/Inf counted on the host (f16 pieces), before the cast. */
  host: number;
}

/** Collects the tensors of one load (see the file's comment). */
export class FiniteCheck {
  readonly #entries: Entry[] = [];

  /** Records the stored values `values` written to `pieces` (name as stored, in `file`). */
  add(file: string, name: string, pieces: readonly Tensor[], values: Float32Array): void {
    const e: Entry = { file, name, gpu: [], host: 0 };
    let at = 0;
    for (const t of pieces) {
      if (t.dtype === "f32") e.gpu.push(t);
      else {
        const part = values.subarray(at, at + t.size);
        for (let i = 0; i < part.length; i++) {
          if (!(Math.abs(part[i]) < F16_LIMIT)) e.host++;
        }
      }
      at += t.size;
    }
    this.#entries.push(e);
  }

  /**
   * Throws `error(file, [problem])` when any recorded tensor holds NaN/Inf, naming the first
   * offending ones (`file` is the first one's); with allowNonFinite, warns on stderr instead.
   */
  async verify(error: (path: string, problems: string[]) => Error, opts: FiniteOptions = {}) {
    const gpu = this.#entries.flatMap((e) => e.gpu);
    let total = this.#entries.reduce((n, e) => n + e.host, 0);
    if (gpu.length > 0) total += await count(gpu);
    if (total === 0) return;
    const bad: { e: Entry; n: number }[] = [];
    for (const e of this.#entries) {
      const n = e.host + (e.gpu.length > 0 ? await count(e.gpu) : 0);
      if (n > 0) bad.push({ e, n });
    }
    const first = bad[0]?.e ?? this.#entries[0];
    const named = bad.slice(0, SHOWN).map(({ e, n }) =>
      `tensor ${e.name}${e.file === first.file ? "" : ` (in ${e.file})`} holds ${n} NaN/Inf ` +
      `value${n === 1 ? "" : "s"}`
    );
    const more = bad.length > SHOWN ? `, and ${bad.length - SHOWN} more tensors` : "";
    const what = `${named.join(", ")}${more}`;
    if (opts.allowNonFinite) {
      console.error(
        `warning: ${first.file}: ${what}; loading them anyway (--allow-nonfinite): outputs ` +
          `that depend on them will be NaN or Inf`,
      );
      return;
    }
    throw error(first.file, [
      `${what}; the weights are damaged: re-download or re-convert them, or pass ` +
      `--allow-nonfinite to load them anyway`,
    ]);
  }
}

async function count(ts: Tensor[]): Promise<number> {
  const t = nonFiniteCount(ts);
  try {
    return (await t.data())[0];
  } finally {
    t.dispose();
  }
}

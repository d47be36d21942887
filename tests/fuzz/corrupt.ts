// Seeded corrupted variants of any file's bytes, for robustness tests: truncations (many
// offsets, dense near the end where footers live), single and double byte flips across the
// file and concentrated in the first and last `edge` bytes, zeroed and 0xFF ranges, and an
// empty file. Pure: the same bytes and seed give the same variants.

/** Anything with a uniform next() in [0, 1), like src/nn/init.ts's Rng. */
export interface Random {
  next(): number;
}

export interface Corrupted {
  name: string;
  bytes: Uint8Array;
}

export interface CorruptOptions {
  /** Variants of each kind (truncations, flips, ranges); default 12. */
  perKind?: number;
  /** How many bytes at each end count as header and footer; default 512. */
  edge?: number;
}

/** The corrupted variants of `bytes` (never `bytes` itself, which is not modified). */
export function corruptions(
  bytes: Uint8Array,
  rng: Random,
  { perKind = 12, edge = 512 }: CorruptOptions = {},
): Corrupted[] {
  const n = bytes.length, out: Corrupted[] = [{ name: "empty", bytes: new Uint8Array(0) }];
  if (n === 0) return out;
  const at = (k: number) => Math.floor(rng.next() * k);
  const e = Math.min(n, edge);
  const head = () => at(e), tail = () => n - 1 - at(e), any = () => at(n);
  const where = [any, head, tail];
  // Truncations: the last few bytes (inside a footer and its magic), then anywhere.
  for (const cut of [1, 2, 6, 10, 11]) {
    if (cut < n) out.push({ name: `cut ${cut} bytes off the end`, bytes: bytes.slice(0, n - cut) });
  }
  for (let k = 0; k < perKind; k++) {
    const cut = k % 2 === 0 ? tail() : any();
    out.push({ name: `cut at ${cut} of ${n}`, bytes: bytes.slice(0, cut) });
  }
  // Flips: one or two bytes, each XORed with a random non-zero byte.
  for (const flips of [1, 2]) {
    for (let k = 0; k < perKind * where.length; k++) {
      const b = bytes.slice(), places: number[] = [];
      for (let i = 0; i < flips; i++) {
        const p = where[k % where.length]();
        b[p] ^= 1 + at(255);
        places.push(p);
      }
      out.push({ name: `${flips} byte(s) flipped at ${places.join(",")}`, bytes: b });
    }
  }
  // Ranges set to 0 or 0xFF.
  for (let k = 0; k < perKind; k++) {
    const b = bytes.slice(), start = where[k % where.length](), len = 1 + at(64);
    const v = k % 2 === 0 ? 0 : 0xff;
    b.fill(v, start, start + len);
    out.push({ name: `${len} bytes set to ${v} at ${start}`, bytes: b });
  }
  return out;
}

/** A few files that are not what a binary reader expects: JSON, text, a lone magic. */
export function impostors(): Corrupted[] {
  const text = (name: string, s: string) => ({ name, bytes: new TextEncoder().encode(s) });
  return [
    text("a JSON object", '{"token": ["a"], "relation": "P19"}\n'),
    text("JSON lines", '{"a": 1}\n{"a": 2}\n'),
    text("plain text", "Paris is in France .\n"),
    text("just the Arrow magic", "ARROW1"),
    text("Arrow magic at both ends", "ARROW1\0\0ARROW1"),
  ];
}

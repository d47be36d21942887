// Seeded corruptions of a binary file (weights, Arrow data): cut short, bytes flipped (often
// in the header or the footer, where the structure is), a range zeroed, emptied.
import type { Rng } from "../../src/nn/init.ts";
import type { Variant } from "./json_mutations.ts";

/** One seeded variant of `bytes`; `truncated` when it was cut short. */
export function byteVariant(bytes: Uint8Array, rng: Rng): Variant & { truncated: boolean } {
  const n = bytes.length, at = (k: number) => Math.floor(rng.next() * k);
  // Offsets near either end half the time: headers and footers hold the lengths.
  const offset = () => {
    const edge = Math.min(n, 512);
    const r = rng.next();
    return r < 0.25 ? at(edge) : r < 0.5 ? n - 1 - at(edge) : at(n);
  };
  const kind = rng.next();
  if (kind < 0.05) return { name: "empty", bytes: new Uint8Array(0), truncated: true };
  if (kind < 0.3) {
    const cut = Math.min(n - 1, offset());
    return { name: `cut at ${cut} of ${n}`, bytes: bytes.slice(0, cut), truncated: true };
  }
  const out = bytes.slice();
  if (kind < 0.85) {
    const k = 1 + at(3), where: number[] = [];
    for (let i = 0; i < k; i++) {
      const o = offset();
      out[o] ^= 1 << at(8);
      where.push(o);
    }
    return { name: `bits flipped at ${where.join(",")}`, bytes: out, truncated: false };
  }
  const start = offset(), len = 1 + at(64);
  out.fill(kind < 0.95 ? 0 : 0xff, start, start + len);
  return { name: `${len} bytes set at ${start}`, bytes: out, truncated: false };
}

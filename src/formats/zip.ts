// The part of the zip format torch.save writes: the central directory (zip64 too: torch
// writes it past 4 GB) and records stored uncompressed, read in place.
import { readExact } from "./read_exact.ts";
import { UserError } from "../errors.ts";

export class ZipError extends UserError {
}

const show = (s: string) => JSON.stringify(s.length > 80 ? s.slice(0, 77) + "..." : s);

/** Reads exactly `n` bytes at `offset` into a fresh buffer. */
export async function readAt(path: string, file: Deno.FsFile, offset: number, n: number) {
  let out: Uint8Array | null;
  try {
    out = await readExact(file, offset, n);
  } catch (e) {
    throw new ZipError(`${path}: cannot read: ${(e as Error).message}`);
  }
  if (!out) throw new ZipError(`${path}: the file ends early (truncated?)`);
  return out;
}

export interface ZipEntry {
  method: number;
  flags: number;
  size: number;
  compressed: number;
  local: number;
}

/** The zip's central directory by record name (zip64 included, as torch writes past 4 GB). */
export async function zipEntries(path: string, file: Deno.FsFile, size: number) {
  const fail = (msg: string) => new ZipError(`${path}: ${msg} (truncated or corrupt zip)`);
  const tailStart = Math.max(0, size - 65557 - 20);
  const tail = await readAt(path, file, tailStart, size - tailStart);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0 && eocd < 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) eocd = i;
  }
  if (eocd < 0) throw fail("no end of central directory");
  let count = tv.getUint16(eocd + 10, true), cdSize = tv.getUint32(eocd + 12, true);
  let cdStart = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdStart === 0xffffffff) {
    if (eocd < 20 || tv.getUint32(eocd - 20, true) !== 0x07064b50) throw fail("no zip64 locator");
    const z = new DataView(
      (await readAt(path, file, Number(tv.getBigUint64(eocd - 12, true)), 56)).buffer,
    );
    if (z.getUint32(0, true) !== 0x06064b50) throw fail("no zip64 end of central directory");
    [count, cdSize, cdStart] = [32, 40, 48].map((o) => Number(z.getBigUint64(o, true)));
  }
  if (cdStart + cdSize > size) throw fail("the central directory runs past the file");
  const cd = await readAt(path, file, cdStart, cdSize), v = new DataView(cd.buffer);
  const entries = new Map<string, ZipEntry>();
  for (let i = 0, at = 0; i < count; i++) {
    if (at + 46 > cd.length || v.getUint32(at, true) !== 0x02014b50) {
      throw fail("a bad directory entry");
    }
    const n = v.getUint16(at + 28, true),
      x = v.getUint16(at + 30, true),
      c = v.getUint16(at + 32, true);
    if (at + 46 + n + x > cd.length) throw fail("a bad directory entry");
    const name = new TextDecoder().decode(cd.subarray(at + 46, at + 46 + n));
    const e: ZipEntry = {
      flags: v.getUint16(at + 8, true),
      method: v.getUint16(at + 10, true),
      compressed: v.getUint32(at + 20, true),
      size: v.getUint32(at + 24, true),
      local: v.getUint32(at + 42, true),
    };
    // Zip64 extra field: the 64-bit values of the fields saturated above, in this order.
    for (let p = at + 46 + n; p + 4 <= at + 46 + n + x;) {
      const id = v.getUint16(p, true), len = v.getUint16(p + 2, true);
      if (id === 1) {
        let q = p + 4;
        for (const k of ["size", "compressed", "local"] as const) {
          if (e[k] === 0xffffffff && q + 8 <= p + 4 + len) {
            (e[k] = Number(v.getBigUint64(q, true)), q += 8);
          }
        }
      }
      p += 4 + len;
    }
    entries.set(name, e);
    at += 46 + n + x + c;
  }
  return entries;
}

/** Where a stored record's bytes begin, after its local header. */
export async function recordStart(path: string, file: Deno.FsFile, name: string, e: ZipEntry) {
  if (e.method !== 0 || e.flags & 1 || e.compressed !== e.size) {
    throw new ZipError(
      `${path}: record ${
        show(name)
      } is compressed or encrypted; torch.save stores records uncompressed`,
    );
  }
  const h = new DataView((await readAt(path, file, e.local, 30)).buffer);
  if (h.getUint32(0, true) !== 0x04034b50) {
    throw new ZipError(`${path}: record ${show(name)} has no local header (corrupt zip)`);
  }
  return e.local + 30 + h.getUint16(26, true) + h.getUint16(28, true);
}

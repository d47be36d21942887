// Atomic file writes: the new file is written beside the target, flushed to disk, then renamed
// over it, so a crash or a concurrent reader sees the old file or the whole new one, never half.
import { basename, dirname, join } from "node:path";

/** Creates `path` through a temporary file in the same directory that `fill` writes. */
export async function writeFileAtomic(
  path: string,
  fill: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  const file = await Deno.open(tmp, { write: true, createNew: true });
  try {
    await fill(file);
    await file.sync();
    file.close();
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Writes all of `bytes` (one write may take only part). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}

export function writeTextAtomic(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, (f) => writeAll(f, new TextEncoder().encode(text)));
}

// Atomic file and folder writes: the new file (folder) is written beside the target, flushed to
// disk, then renamed over it, so a crash or a concurrent reader sees the old one or the whole
// new one, never half.
import { basename, dirname, join } from "node:path";
import { UserError } from "../errors.ts";

/** A write the system refused (disk full, read-only, not a folder); nothing existing changed. */
export class OutputError extends UserError {}

/** The system's answers that refuse a write (a missing input stays a NotFound of its own). */
const WRITE_REFUSALS = new Set([
  "ENOSPC",
  "EDQUOT",
  "EFBIG",
  "EROFS",
  "EACCES",
  "EPERM",
  "ENOTDIR",
  "EISDIR",
  "EIO",
  "EEXIST",
]);

/** The system's refusal as an OutputError naming `path`; anything else (a bug) as it is. */
export function refused(path: string, e: unknown): unknown {
  const code = (e as { code?: unknown })?.code;
  if (!(e instanceof Error) || !WRITE_REFUSALS.has(code as string)) return e;
  const hint = code === "ENOSPC"
    ? "free some disk space or write elsewhere"
    : code === "EROFS" || code === "EACCES" || code === "EPERM"
    ? "the folder is not writable: choose another output folder"
    : "check the output path";
  return new OutputError(
    `cannot write ${path}: ${e.message.replace(/:.*$/, "")} (${code}); ${hint}. Nothing ` +
      `that existed was changed.`,
    { cause: e },
  );
}

/**
 * Creates `path` (and its folder) through a temporary file in the same directory that `fill`
 * writes.
 */
export async function writeFileAtomic(
  path: string,
  fill: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  try {
    await writeFileAtomicRaw(path, fill);
  } catch (e) {
    throw refused(path, e);
  }
}

async function writeFileAtomicRaw(
  path: string,
  fill: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
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

async function syncDir(path: string): Promise<void> {
  const d = await Deno.open(path, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Temporary folders of interrupted writeFolderAtomic calls next to `dir`. */
export async function leftoverTemps(dir: string): Promise<string[]> {
  const prefix = `.${basename(dir)}.tmp-`, out: string[] = [];
  try {
    for await (const e of Deno.readDir(dirname(dir))) {
      if (e.name.startsWith(prefix)) out.push(join(dirname(dir), e.name));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/**
 * Repairs a folder write cut between moving the old folder aside and renaming the new one in:
 * the old folder goes back in place. Readers call it before reading `dir`.
 */
export async function recover(dir: string): Promise<void> {
  const aside = (await leftoverTemps(dir)).find((t) => t.endsWith("-old"));
  if (aside && !(await Deno.stat(dir).then(() => true, () => false))) {
    await Deno.rename(aside, dir);
  }
}

/**
 * Creates or replaces the folder `dir` with what `fill` writes into a temporary sibling;
 * first repairs a cut write and removes stale temporaries of `dir`.
 */
export async function writeFolderAtomic(
  dir: string,
  fill: (tmp: string) => Promise<void>,
): Promise<void> {
  try {
    await writeFolderAtomicRaw(dir, fill);
  } catch (e) {
    throw refused(dir, e);
  }
}

async function writeFolderAtomicRaw(
  dir: string,
  fill: (tmp: string) => Promise<void>,
): Promise<void> {
  await recover(dir);
  for (const t of await leftoverTemps(dir)) await Deno.remove(t, { recursive: true });
  await Deno.mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(tmp);
  try {
    await fill(tmp);
    await syncDir(tmp);
    // A folder cannot be renamed over a non-empty one: move the old one aside first, and
    // only delete it once the new one is in place.
    const old = `${tmp}-old`;
    const hadOld = await Deno.rename(dir, old).then(() => true, (e) => {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    });
    await Deno.rename(tmp, dir);
    await syncDir(dirname(dir));
    if (hadOld) await Deno.remove(old, { recursive: true });
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}

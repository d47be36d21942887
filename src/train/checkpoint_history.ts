// --save-total-limit: the last N checkpoints kept as OUT/checkpoint-<step>/ beside
// OUT/checkpoint/ (always the newest, which --resume reads), as the Hugging Face Trainer keeps
// them. History folders hard-link the newest checkpoint's files (a checkpoint is replaced by
// new files, never rewritten in place, so a link keeps its old bytes), so the newest costs no
// extra disk; where links are refused (another file system) the files are copied.
import { join } from "node:path";
import { writeFolderAtomic } from "../formats/atomic.ts";

const HISTORY = /^checkpoint-(\d+)$/;

/** The history folders in `out`, oldest first. */
async function checkpointHistory(out: string): Promise<{ step: number; dir: string }[]> {
  const found: { step: number; dir: string }[] = [];
  for await (const e of Deno.readDir(out)) {
    const m = e.isDirectory ? HISTORY.exec(e.name) : null;
    if (m) found.push({ step: Number(m[1]), dir: join(out, e.name) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/**
 * Keeps `checkpoint` (just saved at `step`) as checkpoint-<step> too and deletes the oldest
 * history folders beyond `limit`; a limit of 1 keeps no history (checkpoint/ alone).
 */
export async function keepCheckpoint(
  out: string,
  checkpoint: string,
  step: number,
  limit: number,
): Promise<void> {
  if (limit <= 1) return;
  await writeFolderAtomic(join(out, `checkpoint-${step}`), async (tmp) => {
    for await (const e of Deno.readDir(checkpoint)) {
      if (!e.isFile) continue;
      const from = join(checkpoint, e.name), to = join(tmp, e.name);
      await Deno.link(from, to).catch(() => Deno.copyFile(from, to));
    }
  });
  const history = await checkpointHistory(out);
  for (const h of history.slice(0, Math.max(0, history.length - limit))) {
    await Deno.remove(h.dir, { recursive: true });
  }
}

// Atomic file and folder writes: create, replace, a failing fill leaves the old folder and no temporary,
// stale temporaries are cleaned and a cut swap is repaired.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  leftoverTemps,
  recover,
  writeFolderAtomic,
  writeTextAtomic,
} from "../../src/formats/atomic.ts";

async function withTemp(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const names = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("writeFolderAtomic: creates the folder and its parents", () =>
  withTemp(async (root) => {
    const dir = join(root, "a", "b", "out");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "x.txt"), "1"));
    assert.equal(await Deno.readTextFile(join(dir, "x.txt")), "1");
    assert.deepEqual(await names(join(root, "a", "b")), ["out"]);
  }));

Deno.test("writeTextAtomic: creates the file's folder and leaves no temporary", () =>
  withTemp(async (root) => {
    const path = join(root, "a", "b", "out.txt");
    await writeTextAtomic(path, "1");
    await writeTextAtomic(path, "2");
    assert.equal(await Deno.readTextFile(path), "2");
    assert.deepEqual(await names(join(root, "a", "b")), ["out.txt"]);
  }));

Deno.test("writeFolderAtomic: replaces an existing folder whole", () =>
  withTemp(async (root) => {
    const dir = join(root, "out");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "old.txt"), "old"));
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "new.txt"), "new"));
    assert.deepEqual(await names(dir), ["new.txt"]);
    assert.deepEqual(await names(root), ["out"]);
  }));

Deno.test("writeFolderAtomic: a failing fill keeps the old folder and leaves no temporary", () =>
  withTemp(async (root) => {
    const dir = join(root, "out");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "old.txt"), "old"));
    await assert.rejects(
      writeFolderAtomic(dir, async (tmp) => {
        await Deno.writeTextFile(join(tmp, "half.txt"), "half");
        throw new Error("disk full");
      }),
      /disk full/,
    );
    assert.deepEqual(await names(dir), ["old.txt"]);
    assert.deepEqual(await leftoverTemps(dir), []);
    assert.deepEqual(await names(root), ["out"]);
  }));

Deno.test("writeFolderAtomic: stale temporaries are removed, a cut swap repaired", () =>
  withTemp(async (root) => {
    const dir = join(root, "out");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "v1.txt"), "1"));
    // Cut between moving the old folder aside and renaming the new one in: only the aside
    // copy and the new temporary are left.
    await Deno.rename(dir, join(root, ".out.tmp-0badf00d-old"));
    await Deno.mkdir(join(root, ".out.tmp-0badf00d"));
    // Another folder's temporaries are not ours.
    await Deno.mkdir(join(root, ".other.tmp-12345678"));
    assert.equal((await leftoverTemps(dir)).length, 2);
    await recover(dir);
    assert.deepEqual(await names(dir), ["v1.txt"]);
    // With `dir` present, recover moves nothing.
    await Deno.mkdir(join(root, ".out.tmp-11111111-old"));
    await recover(dir);
    assert.deepEqual(await names(dir), ["v1.txt"]);
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "v2.txt"), "2"));
    assert.deepEqual(await names(dir), ["v2.txt"]);
    assert.deepEqual(await names(root), [".other.tmp-12345678", "out"]);
  }));

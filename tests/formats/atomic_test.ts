// Atomic file and folder writes: create, replace, a failing fill leaves the old folder and no temporary,
// stale temporaries are cleaned and a cut swap is repaired.
import assert from "node:assert/strict";
import { join } from "node:path";
import { errorText } from "../../src/errors.ts";
import {
  leftoverTemps,
  OutputError,
  recover,
  writeFileAtomic,
  writeFolderAtomic,
  writeTextAtomic,
} from "../../src/formats/atomic.ts";
import { withTempDir } from "../temp_dir.ts";

const names = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("writeFolderAtomic: creates the folder and its parents", () =>
  withTempDir(async (root) => {
    const dir = join(root, "a", "b", "out");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "x.txt"), "1"));
    assert.equal(await Deno.readTextFile(join(dir, "x.txt")), "1");
    assert.deepEqual(await names(join(root, "a", "b")), ["out"]);
  }));

Deno.test("writeTextAtomic: creates the file's folder and leaves no temporary", () =>
  withTempDir(async (root) => {
    const path = join(root, "a", "b", "out.txt");
    await writeTextAtomic(path, "1");
    await writeTextAtomic(path, "2");
    assert.equal(await Deno.readTextFile(path), "2");
    assert.deepEqual(await names(join(root, "a", "b")), ["out.txt"]);
  }));

Deno.test("writeFolderAtomic: replaces an existing folder whole", () =>
  withTempDir(async (root) => {
    const dir = join(root, "out");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "old.txt"), "old"));
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "new.txt"), "new"));
    assert.deepEqual(await names(dir), ["new.txt"]);
    assert.deepEqual(await names(root), ["out"]);
  }));

Deno.test("writeFolderAtomic: a failing fill keeps the old folder and leaves no temporary", () =>
  withTempDir(async (root) => {
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

Deno.test("a refused write (disk full, not a folder) is an OutputError naming the path; the old output stays", () =>
  withTempDir(async (root) => {
    const file = join(root, "out.txt"), dir = join(root, "out");
    await writeTextAtomic(file, "old");
    await writeFolderAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "old.txt"), "old"));
    // What Deno throws when the disk is full (as writing /dev/full shows), from inside a write.
    const full = () =>
      Object.assign(new Error("No space left on device (os error 28): write '/x'"), {
        code: "ENOSPC",
      });
    const check = (e: unknown, path: string) => {
      assert.ok(e instanceof OutputError, String(e));
      assert.match(
        e.message,
        new RegExp(
          `cannot write ${path}: No space left on device \\(os error 28\\) \\(ENOSPC\\); free some disk space`,
        ),
      );
      assert.ok(!errorText(e).includes("    at "), "no stack trace");
      return true;
    };
    await assert.rejects(
      writeFolderAtomic(dir, () => Promise.reject(full())),
      (e) => check(e, dir),
    );
    await assert.rejects(
      writeFileAtomic(file, () => Promise.reject(full())),
      (e) => check(e, file),
    );
    assert.equal(await Deno.readTextFile(file), "old");
    assert.deepEqual(await names(dir), ["old.txt"]);
    assert.deepEqual(await names(root), ["out", "out.txt"]);
    // A path through a file: the system's own refusal, named.
    await assert.rejects(
      writeTextAtomic(join(file, "x.txt"), "new"),
      (e) =>
        e instanceof OutputError &&
        /cannot write .*x\.txt: (Not a directory|File exists) .*(ENOTDIR|EEXIST)/.test(e.message),
    );
    // A bug inside a write is not dressed up as the system's refusal.
    await assert.rejects(
      writeFolderAtomic(dir, () => Promise.reject(new TypeError("bug"))),
      (e) => e instanceof TypeError,
    );
  }));

Deno.test("writeFolderAtomic: stale temporaries are removed, a cut swap repaired", () =>
  withTempDir(async (root) => {
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

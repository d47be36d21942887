// Named tensor states: the strict loader refuses missing, unexpected, wrong-shape and
// wrong-dtype tensors (every name in the message, nothing written), round trips are bit-exact
// (pieces included), and the writer lays files out byte for byte as the per-format writers it
// replaced did.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  openSafetensors,
  type SafetensorsEntry,
  writeSafetensors,
} from "../../src/formats/safetensors.ts";
import {
  loadState,
  openChecked,
  saveState,
  shapesOf,
  type State,
  stateEntries,
  StateError,
  stateProblems,
  tensorWriter,
} from "../../src/formats/state.ts";
import { cast, Tensor, tidy } from "../../src/tensor/mod.ts";
import { hasF16, type Rng, test } from "../setup.ts";
import { withTempDir } from "../temp_dir.ts";

/** f32 values with every kind of bit pattern: signed zeros, subnormals, infinities, NaNs. */
function oddValues(rng: Rng, n: number): Float32Array {
  const bits = Uint32Array.from({ length: n }, () => (rng.next() * 2 ** 32) >>> 0);
  bits.set([0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7fc00001].slice(0, n));
  return new Float32Array(bits.buffer);
}

const bitsOf = async (t: Tensor) => Array.from(new Uint32Array((await t.data()).buffer));
const disposeAll = (s: State) => s.forEach(([, t]) => [t].flat().forEach((x) => x.dispose()));

function state(rng: Rng): State {
  return [
    ["encoder.weight", Tensor.from(oddValues(rng, 12), [3, 4])],
    ["encoder.bias", Tensor.from(oddValues(rng, 4), [4])],
    ["scale", Tensor.from(oddValues(rng, 1), [])],
  ];
}

test("state: save then load is bit-exact, pieces included", async (rng) => {
  await withTempDir(async (dir) => {
    const a = state(rng), b = state(rng), path = join(dir, "s.safetensors");
    const rows = [Tensor.from(oddValues(rng, 8), [2, 4]), Tensor.from(oddValues(rng, 4), [1, 4])];
    const rows2 = [
      Tensor.from(new Float32Array(4), [1, 4]),
      Tensor.from(new Float32Array(8), [2, 4]),
    ];
    try {
      await saveState(path, [...a, ["table", rows]], { format: "pt" });
      const file = await openSafetensors(path);
      assert.deepEqual(file.metadata, { format: "pt" });
      assert.deepEqual(file.info("table").shape, [3, 4]);
      file.close();
      // The stored table splits over pieces of other sizes. The odd values include NaN and
      // Inf, which a load refuses unless allowed (then with a warning on stderr).
      await assert.rejects(loadState(path, [...b, ["table", rows2]]), /NaN\/Inf values/);
      await loadState(path, [...b, ["table", rows2]], undefined, { allowNonFinite: true });
      for (const [i, [, t]] of a.entries()) {
        assert.deepEqual(await bitsOf(b[i][1] as Tensor), await bitsOf(t as Tensor));
      }
      const joined = async (ts: Tensor[]) => (await Promise.all(ts.map(bitsOf))).flat();
      assert.deepEqual(await joined(rows2), await joined(rows));
    } finally {
      [a, b].forEach(disposeAll);
      [...rows, ...rows2].forEach((t) => t.dispose());
    }
  });
});

test("state: files are byte-identical to the layout the old writers produced", async (rng) => {
  await withTempDir(async (dir) => {
    const w = Tensor.from([1, -2, 0.5, 3, 4, 5], [2, 3]), bias = Tensor.from([-0, 7], [2]);
    const s: State = [["w", w], ["a.bias", bias]];
    try {
      const path = join(dir, "new.safetensors");
      await saveState(path, s, { format: "pt" });
      // The header the reference writer makes: metadata, then names in order, space-padded.
      const json = `{"__metadata__":{"format":"pt"},` +
        `"a.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
        `"w":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}`;
      const n = Math.ceil(json.length / 8) * 8;
      const expected = new Uint8Array(8 + n + 32).fill(0x20, 8, 8 + n);
      new DataView(expected.buffer).setBigUint64(0, BigInt(n), true);
      expected.set(new TextEncoder().encode(json), 8);
      expected.set(new Uint8Array(new Float32Array([-0, 7, 1, -2, 0.5, 3, 4, 5]).buffer), 8 + n);
      assert.deepEqual(await Deno.readFile(path), expected);

      // The per-format writers it replaced: one {F32, shape, data()} entry per parameter.
      const old = (st: [string, Tensor][]): SafetensorsEntry[] =>
        st.map(([name, t]) => ({ name, dtype: "F32", shape: t.shape, data: () => t.data() }));
      for (const meta of [undefined, { step: "3" }]) {
        const big: [string, Tensor][] = [["w", w], ["m.x", Tensor.from(oddValues(rng, 6), [6])]];
        await writeSafetensors(join(dir, "old.safetensors"), old(big), meta);
        await saveState(path, big, meta);
        assert.deepEqual(
          await Deno.readFile(path),
          await Deno.readFile(join(dir, "old.safetensors")),
        );
        big[1][1].dispose();
      }
      // Pieces are written as the one tensor they make up, and reported once.
      const seen: string[] = [];
      const pieces = [Tensor.from([1, -2, 0.5], [1, 3]), Tensor.from([3, 4, 5], [1, 3])];
      await writeSafetensors(
        join(dir, "pieces.safetensors"),
        stateEntries([["w", pieces], ["a.bias", bias]], (n, b) => seen.push(`${n}:${b}`)),
        { format: "pt" },
      );
      pieces.forEach((t) => t.dispose());
      assert.deepEqual(seen, ["a.bias:8", "w:24"]);
      assert.deepEqual(await Deno.readFile(join(dir, "pieces.safetensors")), expected);
    } finally {
      disposeAll(s);
    }
  });
});

test("state: strict load names every missing, unexpected, wrong-shape, wrong-dtype tensor", async (rng) => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bad.safetensors"), target = state(rng);
    const before = await Promise.all(target.map(([, t]) => bitsOf(t as Tensor)));
    try {
      // Written F32 first, then F16, each by name: the order problems follow in the file.
      await writeSafetensors(path, [
        { name: "encoder.weight", dtype: "F32", shape: [4, 3], data: new Float32Array(12) },
        { name: "scale", dtype: "F16", shape: [], data: new Float16Array(1) },
        { name: "decoder.bias", dtype: "F32", shape: [4], data: new Float32Array(4) },
      ]);
      const fromFile = [
        "unexpected decoder.bias",
        "encoder.weight is F32 [4,3], the model has F32 [3,4]",
        "scale is F16 [], the model has F32 []",
      ];
      const e = await loadState(path, target).then(() => null, (x) => x);
      assert.ok(e instanceof StateError);
      assert.equal(e.path, path);
      assert.deepEqual(e.problems, ["missing encoder.bias", ...fromFile]);
      assert.equal(e.message, `${path}: ${e.problems.join("; ")}`);
      // Nothing was written into the targets.
      assert.deepEqual(await Promise.all(target.map(([, t]) => bitsOf(t as Tensor))), before);

      const file = await openSafetensors(path);
      assert.deepEqual(stateProblems(file, shapesOf(target), true), [
        ...fromFile,
        "missing encoder.bias",
      ]);
      file.close();
      // A caller's own error, for mismatches and for a file that cannot be read alike.
      class MyError extends Error {}
      const mine = (p: string, problems: string[]) => new MyError(`${p} | ${problems.join(" + ")}`);
      const isMine = (re: RegExp) => (x: Error) => x instanceof MyError && re.test(x.message);
      await assert.rejects(openChecked(path, [], mine), isMine(/ \| unexpected decoder\.bias \+ /));
      await assert.rejects(
        openChecked(join(dir, "none.safetensors"), [], mine),
        isMine(/none\.safetensors \| cannot open: /),
      );
    } finally {
      disposeAll(target);
    }
  });
});

test("state: only dense float tensors take values; f16 ones round", async (rng) => {
  const ids = Tensor.from([1, 2], [2], "i32"), w = Tensor.from([1, 2, 3, 4], [2, 2]);
  try {
    assert.throws(() => shapesOf([["ids", ids]]), /ids: cannot load weights into/);
    assert.throws(() => ids.write(new Float32Array(2)), /cannot write 2 values into/);
    assert.throws(() => w.write(new Float32Array(3)), /cannot write 3 values into/);
    // Pieces with different rows are one tensor only when their other dims agree.
    const ragged = [w, Tensor.from([1, 2, 3], [1, 3])];
    assert.throws(() => shapesOf([["t", ragged]]), /t: pieces of different row shapes/);
    ragged[1].dispose();
    if (!hasF16) return;
    const values = oddValues(rng, 4).map(() => rng.normal());
    const h = tidy(() => cast(Tensor.from(new Float32Array(4), [4]), "f16"));
    await tensorWriter()(h, values);
    const back = tidy(() => cast(h, "f32"));
    assert.deepEqual(
      Array.from(await back.data()),
      Array.from(Float32Array.from(new Float16Array(values))),
    );
    h.dispose();
    back.dispose();
  } finally {
    ids.dispose();
    w.dispose();
  }
});

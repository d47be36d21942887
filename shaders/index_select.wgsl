// out[o, j, i] = x[o, ids[j], i] for a dense x of [outer, rows, inner] (embedding lookup,
// gathering rows). Out-of-range ids are rejected on the CPU before this runs.
// P: 0 total, 1 count (ids), 2 rows, 3 inner, 4 x offset, 5 ids offset.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<{{T}}>;

fn element(e: u32) {
  let inner = pu(3u);
  let count = pu(1u);
  let i = e % inner;
  let j = (e / inner) % count;
  let o = e / (inner * count);
  let r = min(u32(Ids[pu(5u) + j]), pu(2u) - 1u);
  O[e] = X[pu(4u) + (o * pu(2u) + r) * inner + i];
}

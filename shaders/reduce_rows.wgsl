// Reduces rows of a dense [outer, n] tensor in chunks of at most `chunk` elements: output
// [outer, chunks] (one row per workgroup or invocation, see rowwise.ts). Chunks keep every
// invocation's loop short (llvmpipe silently ends loops after 65,535 iterations); the
// caller reduces over the chunks again when there are several.
// Each element passes through {{MAP}} (of v) first, e.g. v * v for sums of squares.
// P: 0 outer*chunks, 1 n, 2 input offset, 3 scale (f32), 4 output offset, 5 chunk, 6 chunks.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> O: array<{{T}}>;

fn op(a: f32, b: f32) -> f32 { return {{OP}}; }

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u);
  let c = row % pu(6u);
  let start = c * pu(5u);
  let len = min(pu(5u), n - start);
  let base = pu(2u) + (row / pu(6u)) * n + start;
  var acc = {{INIT}};
  for (var k = lane; k < len; k += {{LANES}}u) {
    let v = f32(X[base + k]);
    acc = op(acc, {{MAP}});
  }
  acc = {{WG_REDUCE}}(acc, li);
  if (lane == 0u) { O[pu(4u) + row] = {{T}}(acc * pf(3u)); }
}

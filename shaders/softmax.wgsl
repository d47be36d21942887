// Row softmax of x + mask (mask broadcast through strides, additive, e.g. -inf or the
// dtype minimum at padding). One row per workgroup or per invocation (see rowwise.ts).
// P: 0 rows, 1 n, 2 x offset, 3..9 x shape (rank 6), 9..15 mask strides, 15 mask offset,
//    16 has mask.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Mask: array<{{TM}}>;
@group(0) @binding(3) var<storage, read_write> Y: array<{{T}}>;

fn val(row: u32, j: u32) -> f32 {
  var v = f32(X[pu(2u) + row * pu(1u) + j]);
  if (pu(16u) != 0u) { v += f32(Mask[strided_index(row * pu(1u) + j, pu(15u), 9u)]); }
  return v;
}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u);
  var m = -3.4028235e38;
  for (var j = lane; j < n; j += {{LANES}}u) { m = max(m, val(row, j)); }
  m = wg_max(m, li);
  var s = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) { s += exp(val(row, j) - m); }
  s = wg_sum(s, li);
  let inv = 1.0 / s;
  for (var j = lane; j < n; j += {{LANES}}u) { Y[row * n + j] = {{T}}(exp(val(row, j) - m) * inv); }
}

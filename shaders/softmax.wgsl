// Row softmax of x + mask (mask broadcast through strides, additive, e.g. -inf or the
// dtype minimum at padding). One row per workgroup or per invocation (see rowwise.ts).
// Two passes: an online max and rescaled sum, then the output. Within a row only the last
// index moves, so the mask is addressed from its row start (one strided_index per row)
// and its last stride: 0 for a mask broadcast along the row, 1 for a dense one.
// Elements move {{W}} at a time (VF is f32 or vec4<f32>): vec4 when the row length and
// offsets allow it, since fewer, wider loads are what llvmpipe and GPUs both want.
// P: 0 rows, 1 n, 2 x offset, 3..9 x shape (rank 6), 9..15 mask strides, 15 mask offset,
//    16 has mask.
alias VF = {{VF}};
@group(0) @binding(1) var<storage, read> X: array<{{VI}}>;
@group(0) @binding(2) var<storage, read> Mask: array<{{VM}}>;
@group(0) @binding(3) var<storage, read_write> Y: array<{{VX}}>;

{{HFNS}}

fn val(x0: u32, m0: u32, j: u32) -> VF {
  var v = ld(X[x0 + j]);
  if (pu(16u) != 0u) { v += {{LOAD_MASK}}; }
  return v;
}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u) / {{W}}u;
  let x0 = pu(2u) / {{W}}u + row * n;
  var m0 = 0u;
  if (pu(16u) != 0u) { m0 = strided_index(row * pu(1u), pu(15u), 9u); }
  var m = -3.4028235e38;
  var s = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) {
    let v = val(x0, m0, j);
    let mn = max(m, hmax(v));
    s = s * exp(m - mn) + hsum(exp(v - VF(mn)));
    m = mn;
  }
  let mr = wg_max(m, li);
  s = wg_sum(s * exp(m - mr), li);
  let inv = 1.0 / s;
  for (var j = lane; j < n; j += {{LANES}}u) {
    Y[row * n + j] = {{VX}}(exp(val(x0, m0, j) - VF(mr)) * inv);
  }
}

// dx = y * (g - sum(g * y)) per row, for y = softmax(x). One row per workgroup or per invocation (see rowwise.ts).
// P: 0 rows, 1 n, 2 y offset, 3 g offset.
@group(0) @binding(1) var<storage, read> Yv: array<{{T}}>;
@group(0) @binding(2) var<storage, read> G: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> DX: array<{{T}}>;

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u);
  let y0 = pu(2u) + row * n;
  let g0 = pu(3u) + row * n;
  var d = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) { d += f32(G[g0 + j]) * f32(Yv[y0 + j]); }
  d = wg_sum(d, li);
  for (var j = lane; j < n; j += {{LANES}}u) {
    DX[row * n + j] = {{T}}(f32(Yv[y0 + j]) * (f32(G[g0 + j]) - d));
  }
}

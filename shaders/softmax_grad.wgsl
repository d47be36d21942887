// dx = y * (g - sum(g * y)) per row, for y = softmax(x). One row per workgroup or per
// invocation (see rowwise.ts); elements move {{W}} at a time, as in softmax.wgsl.
// P: 0 rows, 1 n, 2 y offset, 3 g offset.
alias VF = {{VF}};
@group(0) @binding(1) var<storage, read> Yv: array<{{VI}}>;
@group(0) @binding(2) var<storage, read> G: array<{{VI}}>;
@group(0) @binding(3) var<storage, read_write> DX: array<{{VX}}>;

{{HFNS}}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u) / {{W}}u;
  let y0 = pu(2u) / {{W}}u + row * n;
  let g0 = pu(3u) / {{W}}u + row * n;
  var d = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) { d += hsum(ld(G[g0 + j]) * ld(Yv[y0 + j])); }
  d = wg_sum(d, li);
  for (var j = lane; j < n; j += {{LANES}}u) {
    DX[row * n + j] = {{VX}}(ld(Yv[y0 + j]) * (ld(G[g0 + j]) - VF(d)));
  }
}

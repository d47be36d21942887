// Layer norm backward for one row per workgroup:
//   dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)),  dxh = g * gamma,
// and g * xh per element, which the caller sums over rows for d(gamma).
// P: 0 rows, 1 n, 2 x offset, 3 g offset, 4 gamma offset.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> G: array<{{T}}>;
@group(0) @binding(3) var<storage, read> Gamma: array<{{TP}}>;
@group(0) @binding(4) var<storage, read> Stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<{{T}}>;
@group(0) @binding(6) var<storage, read_write> GXh: array<f32>;

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u);
  let x0 = pu(2u) + row * n;
  let g0 = pu(3u) + row * n;
  let mu = Stats[2u * row];
  let rstd = Stats[2u * row + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (f32(X[x0 + j]) - mu) * rstd;
    let g = f32(G[g0 + j]);
    let dxh = g * f32(Gamma[pu(4u) + j]);
    s1 += dxh;
    s2 += dxh * xh;
    GXh[row * n + j] = g * xh;
  }
  s1 = wg_sum(s1, li) / f32(n);
  s2 = wg_sum(s2, li) / f32(n);
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (f32(X[x0 + j]) - mu) * rstd;
    let dxh = f32(G[g0 + j]) * f32(Gamma[pu(4u) + j]);
    DX[row * n + j] = {{T}}(rstd * (dxh - s1 - xh * s2));
  }
}

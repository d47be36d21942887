// Layer norm backward for one row (per workgroup or per invocation), {{W}} elements at a
// time as in layernorm.wgsl:
//   dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)),  dxh = g * gamma,
// and g * xh per element, which the caller sums over rows for d(gamma).
// P: 0 rows, 1 n, 2 x offset, 3 g offset, 4 gamma offset.
alias VF = {{VF}};
@group(0) @binding(1) var<storage, read> X: array<{{VI}}>;
@group(0) @binding(2) var<storage, read> G: array<{{VI}}>;
@group(0) @binding(3) var<storage, read> Gamma: array<{{VP}}>;
@group(0) @binding(4) var<storage, read> Stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<{{VX}}>;
@group(0) @binding(6) var<storage, read_write> GXh: array<VF>;

{{HFNS}}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u) / {{W}}u;
  let x0 = pu(2u) / {{W}}u + row * n;
  let g0 = pu(3u) / {{W}}u + row * n;
  let gm0 = pu(4u) / {{W}}u;
  let mu = Stats[2u * row];
  let rstd = Stats[2u * row + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (ld(X[x0 + j]) - VF(mu)) * rstd;
    let g = ld(G[g0 + j]);
    let dxh = g * VF(Gamma[gm0 + j]);
    s1 += hsum(dxh);
    s2 += hsum(dxh * xh);
    GXh[row * n + j] = g * xh;
  }
  s1 = wg_sum(s1, li) / f32(pu(1u));
  s2 = wg_sum(s2, li) / f32(pu(1u));
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (ld(X[x0 + j]) - VF(mu)) * rstd;
    let dxh = ld(G[g0 + j]) * VF(Gamma[gm0 + j]);
    DX[row * n + j] = {{VX}}(rstd * (dxh - VF(s1) - xh * s2));
  }
}

// Backward of residual_layernorm.wgsl for one row (per workgroup or per invocation),
// {{W}} elements at a time:
//   dh = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)),  dxh = g * gamma,
// written as the residual's gradient and, through the same dropout mask, as x's; and
// g * xh per element, which the caller sums over rows for d(gamma).
// P: 0 rows, 1 n, 2 g offset, 3 gamma offset, 4 seed, 5 counter, 6 threshold, 7 scale,
//    8 has dropout.
alias VF = {{VF}};
alias VU = {{VU}};
@group(0) @binding(1) var<storage, read> H: array<{{VI}}>;
@group(0) @binding(2) var<storage, read> G: array<{{VI}}>;
@group(0) @binding(3) var<storage, read> Gamma: array<{{VP}}>;
@group(0) @binding(4) var<storage, read> Stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> DR: array<{{VX}}>;
@group(0) @binding(6) var<storage, read_write> DX: array<{{VX}}>;
@group(0) @binding(7) var<storage, read_write> GXh: array<VF>;

{{HFNS}}

// As dropout.wgsl: the PCG output permutation (O'Neill), per component.
fn pcg(v: VU) -> VU {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> VU(28u)) + VU(4u))) ^ s) * 277803737u;
  return (w >> VU(22u)) ^ w;
}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u) / {{W}}u;
  let r0 = row * n;
  let g0 = pu(2u) / {{W}}u + r0;
  let gm0 = pu(3u) / {{W}}u;
  let mu = Stats[2u * row];
  let rstd = Stats[2u * row + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (ld(H[r0 + j]) - VF(mu)) * rstd;
    let g = ld(G[g0 + j]);
    let dxh = g * VF(Gamma[gm0 + j]);
    s1 += hsum(dxh);
    s2 += hsum(dxh * xh);
    GXh[r0 + j] = g * xh;
  }
  s1 = wg_sum(s1, li) / f32(pu(1u));
  s2 = wg_sum(s2, li) / f32(pu(1u));
  let key = pcg(VU(pcg(VU(pu(4u))){{FIRST}} ^ pu(5u))){{FIRST}};
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (ld(H[r0 + j]) - VF(mu)) * rstd;
    let dxh = ld(G[g0 + j]) * VF(Gamma[gm0 + j]);
    let dh = VF({{VX}}(rstd * (dxh - VF(s1) - xh * s2)));
    DR[r0 + j] = {{VX}}(dh);
    var dx = dh;
    if (pu(8u) != 0u) {
      let r = pcg(VU(key) ^ (VU((r0 + j) * {{W}}u) + {{IOTA}}));
      dx = select(VF(0.0), dh * pf(7u), r >= VU(pu(6u)));
    }
    DX[r0 + j] = {{VX}}(dx);
  }
}

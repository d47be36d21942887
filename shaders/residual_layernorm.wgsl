// Fused post-LN block end: y = layerNorm(dropout(x) + residual) over the last axis, in one
// row kernel (one row per workgroup or per invocation, see rowwise.ts), {{W}} elements at a
// time as in layernorm.wgsl. The first pass writes h = dropout(x) + residual (rounded to
// T, as the separate ops store it) and takes its statistics as layernorm.wgsl does; the
// second normalises h. Dropout is dropout.wgsl's mask: element i of x (the flat index) is
// kept when pcg-hash(seed, counter, i) >= threshold.
// P: 0 rows, 1 n, 2 x offset, 3 residual offset, 4 eps, 5 gamma offset, 6 beta offset,
//    7 seed, 8 counter, 9 threshold, 10 scale 1/(1-p), 11 has dropout.
alias VF = {{VF}};
alias VU = {{VU}};
@group(0) @binding(1) var<storage, read> X: array<{{VI}}>;
@group(0) @binding(2) var<storage, read> R: array<{{VI}}>;
@group(0) @binding(3) var<storage, read> Gamma: array<{{VP}}>;
@group(0) @binding(4) var<storage, read> Beta: array<{{VP}}>;
@group(0) @binding(5) var<storage, read_write> H: array<{{VX}}>;
@group(0) @binding(6) var<storage, read_write> Y: array<{{VX}}>;
@group(0) @binding(7) var<storage, read_write> Stats: array<f32>;

{{HFNS}}

// As dropout.wgsl: the PCG output permutation (O'Neill), per component.
fn pcg(v: VU) -> VU {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> VU(28u)) + VU(4u))) ^ s) * 277803737u;
  return (w >> VU(22u)) ^ w;
}

// h at the i-th group of {{W}} elements of the output.
fn h_at(i: u32, key: u32) -> VF {
  var x = ld(X[pu(2u) / {{W}}u + i]);
  if (pu(11u) != 0u) {
    let r = pcg(VU(key) ^ (VU(i * {{W}}u) + {{IOTA}}));
    x = VF({{VX}}(select(VF(0.0), x * pf(10u), r >= VU(pu(9u)))));
  }
  return VF({{VX}}(x + ld(R[pu(3u) / {{W}}u + i])));
}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u) / {{W}}u;
  let r0 = row * n;
  let key = pcg(VU(pcg(VU(pu(7u))){{FIRST}} ^ pu(8u))){{FIRST}};
  let shift = h_at(r0, key){{FIRST}};
  var w = vec3<f32>(0.0);
  for (var j = lane; j < n; j += {{LANES}}u) {
    let h = h_at(r0 + j, key);
    H[r0 + j] = {{VX}}(h);
    w = welford_add(w, h - VF(shift));
  }
  w = wg_welford(w, li);
  let mu = shift + w.y;
  let rstd = inverseSqrt(w.z / f32(pu(1u)) + pf(4u));
  let g0 = pu(5u) / {{W}}u;
  let b0 = pu(6u) / {{W}}u;
  // Each lane reads back only the elements of H it wrote itself: no barrier needed.
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (VF(H[r0 + j]) - VF(mu)) * rstd;
    Y[r0 + j] = {{VX}}(xh * VF(Gamma[g0 + j]) + VF(Beta[b0 + j]));
  }
  if (lane == 0u) {
    Stats[2u * row] = mu;
    Stats[2u * row + 1u] = rstd;
  }
}

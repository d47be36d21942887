// Layer norm over the last axis. Each lane runs Welford's algorithm over its strided share
// of the row, shifted by the row's first element so that a large mean costs no precision;
// elements come {{W}} at a time (VF: f32 or vec4<f32>), each group merged into the running
// state as a (count, mean, M2) chunk, and the lanes' states merge pairwise (wg_welford).
// Saves mean and 1/std per row for the backward pass.
// P: 0 rows, 1 n, 2 x offset, 3 eps, 4 gamma offset, 5 beta offset.
alias VF = {{VF}};
@group(0) @binding(1) var<storage, read> X: array<{{VI}}>;
@group(0) @binding(2) var<storage, read> Gamma: array<{{VP}}>;
@group(0) @binding(3) var<storage, read> Beta: array<{{VP}}>;
@group(0) @binding(4) var<storage, read_write> Y: array<{{VX}}>;
@group(0) @binding(5) var<storage, read_write> Stats: array<f32>;

{{HFNS}}

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u) / {{W}}u;
  let x0 = pu(2u) / {{W}}u + row * n;
  let shift = ld(X[x0]){{FIRST}};
  var w = vec3<f32>(0.0);
  for (var j = lane; j < n; j += {{LANES}}u) {
    w = welford_add(w, ld(X[x0 + j]) - VF(shift));
  }
  w = wg_welford(w, li);
  let mu = shift + w.y;
  let rstd = inverseSqrt(w.z / f32(pu(1u)) + pf(3u));
  let g0 = pu(4u) / {{W}}u;
  let b0 = pu(5u) / {{W}}u;
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (ld(X[x0 + j]) - VF(mu)) * rstd;
    Y[row * n + j] = {{VX}}(xh * VF(Gamma[g0 + j]) + VF(Beta[b0 + j]));
  }
  if (lane == 0u) {
    Stats[2u * row] = mu;
    Stats[2u * row + 1u] = rstd;
  }
}

// Layer norm over the last axis. Each lane runs Welford's algorithm over its strided share
// of the row, shifted by the row's first element so that a large mean costs no precision;
// the lanes' (count, mean, M2) states merge pairwise (wg_welford).
// Saves mean and 1/std per row for the backward pass.
// P: 0 rows, 1 n, 2 x offset, 3 eps, 4 gamma offset, 5 beta offset.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Gamma: array<{{TP}}>;
@group(0) @binding(3) var<storage, read> Beta: array<{{TP}}>;
@group(0) @binding(4) var<storage, read_write> Y: array<{{T}}>;
@group(0) @binding(5) var<storage, read_write> Stats: array<f32>;

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u);
  let x0 = pu(2u) + row * n;
  let shift = f32(X[x0]);
  var cnt = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) {
    let v = f32(X[x0 + j]) - shift;
    cnt += 1.0;
    let d = v - mean;
    mean += d / cnt;
    m2 += d * (v - mean);
  }
  let w = wg_welford(vec3<f32>(cnt, mean, m2), li);
  let mu = shift + w.y;
  let rstd = inverseSqrt(w.z / f32(n) + pf(3u));
  for (var j = lane; j < n; j += {{LANES}}u) {
    let xh = (f32(X[x0 + j]) - mu) * rstd;
    Y[row * n + j] = {{T}}(xh * f32(Gamma[pu(4u) + j]) + f32(Beta[pu(5u) + j]));
  }
  if (lane == 0u) {
    Stats[2u * row] = mu;
    Stats[2u * row + 1u] = rstd;
  }
}

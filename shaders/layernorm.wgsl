// Layer norm over the last axis. Each invocation runs Welford's algorithm over its strided
// share of the row; the partial (count, mean, M2) triples merge pairwise (Chan et al.).
// Saves mean and 1/std per row for the backward pass.
// P: 0 rows, 1 n, 2 x offset, 3 eps, 4 gamma offset, 5 beta offset.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Gamma: array<{{TP}}>;
@group(0) @binding(3) var<storage, read> Beta: array<{{TP}}>;
@group(0) @binding(4) var<storage, read_write> Y: array<{{T}}>;
@group(0) @binding(5) var<storage, read_write> Stats: array<f32>;

var<workgroup> wc: array<f32, {{WG}}>;
var<workgroup> wm: array<f32, {{WG}}>;
var<workgroup> w2: array<f32, {{WG}}>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row = wg_linear(wid, nwg);
  if (row >= pu(0u)) { return; }
  let n = pu(1u);
  let x0 = pu(2u) + row * n;
  var cnt = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var j = li; j < n; j += {{WG}}u) {
    let v = f32(X[x0 + j]);
    cnt += 1.0;
    let d = v - mean;
    mean += d / cnt;
    m2 += d * (v - mean);
  }
  wc[li] = cnt;
  wm[li] = mean;
  w2[li] = m2;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let nb = wc[li + s];
      let na = wc[li];
      let nab = na + nb;
      if (nb > 0.0) {
        let d = wm[li + s] - wm[li];
        wm[li] += d * nb / nab;
        w2[li] += w2[li + s] + d * d * na * nb / nab;
        wc[li] = nab;
      }
    }
    workgroupBarrier();
  }
  let mu = wm[0];
  let rstd = inverseSqrt(w2[0] / f32(n) + pf(3u));
  for (var j = li; j < n; j += {{WG}}u) {
    let xh = (f32(X[x0 + j]) - mu) * rstd;
    Y[row * n + j] = {{T}}(xh * f32(Gamma[pu(4u) + j]) + f32(Beta[pu(5u) + j]));
  }
  if (li == 0u) {
    Stats[2u * row] = mu;
    Stats[2u * row + 1u] = rstd;
  }
}

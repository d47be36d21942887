// Cross-entropy with logits, one row per workgroup or invocation: loss = logsumexp(x) - x[label], with
// rows whose label is the ignore index contributing 0 and valid = 0.
// Also writes logsumexp for the backward pass.
// P: 0 rows, 1 classes, 2 x offset, 3 labels offset, 4 ignore index (i32 bits).
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> Out: array<f32>;

fn row_main(row: u32, lane: u32, li: u32) {
  let n = pu(1u);
  let x0 = pu(2u) + row * n;
  var m = -3.4028235e38;
  for (var j = lane; j < n; j += {{LANES}}u) { m = max(m, f32(X[x0 + j])); }
  m = wg_max(m, li);
  var s = 0.0;
  for (var j = lane; j < n; j += {{LANES}}u) { s += exp(f32(X[x0 + j]) - m); }
  s = wg_sum(s, li);
  if (lane == 0u) {
    let label = Labels[pu(3u) + row];
    let lse = m + log(s);
    let valid = label != bitcast<i32>(pu(4u));
    let l = select(0.0, lse - f32(X[x0 + u32(max(label, 0))]), valid);
    Out[3u * row] = l;
    Out[3u * row + 1u] = select(0.0, 1.0, valid);
    Out[3u * row + 2u] = lse;
  }
}

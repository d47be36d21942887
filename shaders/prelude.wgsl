// Shared by every kernel. Parameters arrive as 64 words in one uniform slot; kernels read
// them by index (pu: u32, pf: f32) so one layout serves all of them.
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 16>;
fn pu(i: u32) -> u32 { return P[i / 4u][i % 4u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
// Grids above 65,535 workgroups are folded into 2-D by the dispatcher.
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }
// Storage index of flat element i of a strided view (rank padded to 6): shape at P[3..9),
// strides at P[s..s+6), element offset `off`.
fn strided_index(i: u32, off: u32, s: u32) -> u32 {
  var rem = i;
  var idx = off;
  for (var d = 5i; d >= 0i; d--) {
    let dim = pu(3u + u32(d));
    idx += (rem % dim) * pu(s + u32(d));
    rem /= dim;
  }
  return idx;
}

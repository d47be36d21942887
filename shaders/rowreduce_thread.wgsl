// Row kernels, thread mode: each invocation owns a whole row (short rows, and CPU
// rasterisers where barriers are costly), so the reductions are the identity.
fn row_index(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return wg_linear(wid, nwg) * {{WG}}u + li;
}
fn row_lane(li: u32) -> u32 { return 0u; }
fn wg_sum(v: f32, li: u32) -> f32 { return v; }
fn wg_max(v: f32, li: u32) -> f32 { return v; }
fn wg_welford(w: vec3<f32>, li: u32) -> vec3<f32> { return w; }

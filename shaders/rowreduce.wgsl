// Row kernels, workgroup mode: a workgroup of {{WG}} invocations shares each row
// (row = workgroup, lane = invocation). Reductions go through shared memory and return the
// result to every lane; callers stay in uniform control flow.
var<workgroup> red: array<vec3<f32>, {{WG}}>;

fn row_index(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 { return wg_linear(wid, nwg); }
fn row_lane(li: u32) -> u32 { return li; }

fn wg_sum(v: f32, li: u32) -> f32 {
  red[li].x = v;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li].x += red[li + s].x; }
    workgroupBarrier();
  }
  let r = red[0].x;
  workgroupBarrier();
  return r;
}

fn wg_max(v: f32, li: u32) -> f32 {
  red[li].x = v;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li].x = max(red[li].x, red[li + s].x); }
    workgroupBarrier();
  }
  let r = red[0].x;
  workgroupBarrier();
  return r;
}

// Merges per-lane Welford states (count, mean, M2) pairwise (Chan et al.).
fn wg_welford(w: vec3<f32>, li: u32) -> vec3<f32> {
  red[li] = w;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let a = red[li];
      let b = red[li + s];
      let n = a.x + b.x;
      if (b.x > 0.0) {
        let d = b.y - a.y;
        red[li] = vec3<f32>(n, a.y + d * b.x / n, a.z + b.z + d * d * a.x * b.x / n);
      }
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

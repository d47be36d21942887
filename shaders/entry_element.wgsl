// Entry point of element kernels: element(i) runs once for every i < P[0]; grids above
// 65,535 workgroups arrive folded into 2-D.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_linear(wid, nwg) * 256u + li;
  if (i < pu(0u)) { element(i); }
}

// Entry point of row kernels (see rowwise.ts): row_main runs for every row < P[0]. In
// workgroup mode the row is the workgroup's, so the branch is uniform and row_main may
// use barriers.
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row = row_index(wid, nwg, li);
  if (row < pu(0u)) { row_main(row, row_lane(li), li); }
}

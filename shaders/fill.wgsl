// Fills a dense buffer with one value (zeros, ones, NaN poison in tests).
// P: 0 n, 1 value bits.
@group(0) @binding(1) var<storage, read_write> O: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_linear(wid, nwg) * 256u + li;
  if (i >= pu(0u)) { return; }
  O[i] = bitcast<{{T}}>(pu(1u));
}

// Copies a strided view into another strided view of the same shape (contiguous(),
// concatenation, slice gradients).
// P: 0 n, 1 src offset, 2 dst offset, 3..9 shape, 9..15 src strides, 15..21 dst strides.
@group(0) @binding(1) var<storage, read> S: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> D: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_linear(wid, nwg) * 256u + li;
  if (i >= pu(0u)) { return; }
  D[strided_index(i, pu(2u), 15u)] = S[strided_index(i, pu(1u), 9u)];
}

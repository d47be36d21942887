// Partial sums of a map of each element v over several dense f32 tensors in one dispatch:
// each invocation sums a strided run of one tensor's elements (256 workgroup-wide) into its own
// output slot (no workgroup memory or barriers: costly on CPU rasterisers); the caller sums
// the slots. Tensor t's buffer is X{t} (binding 2 + t), its workgroups start at word 4 + 3t;
// the dispatcher generates the branches.
// P: 0 workgroups in all, 1 output offset; tensor t at 4 + 3t: first workgroup, n, offset.
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
{{DECLS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let wg = wg_linear(wid, nwg);
  if (wg >= pu(0u)) { return; }
  var acc = 0.0;
  {{BRANCHES}}
  O[pu(1u) + wg * 256u + li] = acc;
}

// AdamW over several parameters in one dispatch, with adamw.wgsl's f32 operations per
// element (bit-identical results). Tensor t's buffers are P{t}, G{t}, M{t}, V{t} (bindings
// 2 + 4t ...), its workgroups start at word 16 + 4t; the dispatcher generates the branches.
// P: 0 workgroups in all, 1 lr, 2 b1, 3 b2, 4 eps, 6 bc1, 7 bc2, 9 max norm;
// tensor t at 16 + 4t: first workgroup, n, g offset, weight decay.
@group(0) @binding(1) var<storage, read> Norm: array<f32>;
{{DECLS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let wg = wg_linear(wid, nwg);
  if (wg >= pu(0u)) { return; }
  let lr = pf(1u);
  let b1 = pf(2u);
  let b2 = pf(3u);
  let maxNorm = pf(9u);
  let clip = select(1.0, min(1.0, maxNorm / (Norm[0] + 1e-6)), maxNorm > 0.0);
  {{BRANCHES}}
}

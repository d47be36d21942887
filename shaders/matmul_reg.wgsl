// Batched matmul C = alpha * A @ B (+ bias), register-blocked: each invocation computes a
// {{TM}}x{{TN}} block in vec4 accumulators with no workgroup memory or barriers (fastest on
// CPU rasterisers such as llvmpipe). Loads, the K loop body and the stores are generated
// per operand layout (src/tensor/kernels/matmul_wgsl.ts); a K step covers 4 values of K
// where A and B allow vec4 loads along their contiguous axis, else 1.
// P: 0 M, 1 N, 2 K, 3 A offset, 4 A batch stride, 5 A row stride, 6 A k stride,
//    7 B offset, 8 B batch stride, 9 B k stride, 10 B col stride, 11 bias offset,
//    12 alpha, 13 C batch stride, 14 total K, 15 K offset per batch. Offsets and strides
//    count scalars. Split-K runs K's slices as the batch: slice z covers K from z * P[15],
//    P[2] long but clamped to the total (P[15] = 0 for a true batch: every batch gets P[2]).
@group(0) @binding(1) var<storage, read> A: array<{{VA}}>;
@group(0) @binding(2) var<storage, read> B: array<{{VB}}>;
{{DECL_BIAS}}
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> C: array<{{VC}}>;
{{DECL_PRE}}

@compute @workgroup_size({{WX}}, {{WY}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = pu(0u);
  let N = pu(1u);
  let K = min(pu(2u), pu(14u) - min(pu(14u), wid.z * pu(15u)));
  let row0 = (wid.y * {{WY}}u + lid.y) * {{TM}}u;
  let col0 = (wid.x * {{WX}}u + lid.x) * {{TN}}u;
  if (row0 >= M || col0 >= N) { return; }
  let offA = pu(3u) + wid.z * pu(4u);
  let offB = pu(7u) + wid.z * pu(8u);
  {{ACC}}
  {{PRE}}
  for (var k = 0u; k < {{KSTEPS}}; k++) {
    {{STEP}}
  }
  let alpha = pf(12u);
  let offC = wid.z * pu(13u);
  {{STORE}}
}

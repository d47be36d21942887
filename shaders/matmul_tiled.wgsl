// Batched matmul C = alpha * A @ B (+ bias) with workgroup-memory tiling: a 16x16
// workgroup stages {{BM}}x16 of A and 16x{{BN}} of B in shared memory and each
// invocation accumulates a {{TM}}x{{TN}} block (the classic design for discrete GPUs).
// Operands are read through strides, so transposed views need no copy. Loops other than
// the K loop and its 16-step inner loop have constant trip counts, which llvmpipe unrolls
// (see LOOP_CAP in src/tensor/kernels/matmul.ts).
// P: 0 M, 1 N, 2 K, 3 A offset, 4 A batch stride, 5 A row stride, 6 A k stride,
//    7 B offset, 8 B batch stride, 9 B k stride, 10 B col stride, 11 bias offset,
//    12 alpha, 13 C batch stride. The GELU epilogue may store v in Pre, C = gelu(v).
@group(0) @binding(1) var<storage, read> A: array<{{TA}}>;
@group(0) @binding(2) var<storage, read> B: array<{{TB}}>;
{{DECL_BIAS}}
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> C: array<{{TC}}>;
{{DECL_PRE}}

var<workgroup> As: array<f32, {{BM}} * 16>;
var<workgroup> Bs: array<f32, 16 * {{BN}}>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = pu(0u);
  let N = pu(1u);
  let K = pu(2u);
  let offA = pu(3u) + wid.z * pu(4u);
  let offB = pu(7u) + wid.z * pu(8u);
  let rowBase = wid.y * {{BM}}u;
  let colBase = wid.x * {{BN}}u;
  var acc: array<f32, {{TM}} * {{TN}}>;
  for (var i = 0u; i < {{TM}}u * {{TN}}u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var t = 0u; t < {{TM}}u; t++) {
      let e = li + t * 256u;
      let r = e / 16u;
      let kk = e % 16u;
      let gr = rowBase + r;
      let gk = k0 + kk;
      var v = 0.0;
      if (gr < M && gk < K) { v = f32(A[offA + gr * pu(5u) + gk * pu(6u)]); }
      As[kk * {{BM}}u + r] = v;
    }
    for (var t = 0u; t < {{TN}}u; t++) {
      let e = li + t * 256u;
      let kk = e / {{BN}}u;
      let c = e % {{BN}}u;
      let gc = colBase + c;
      let gk = k0 + kk;
      var v = 0.0;
      if (gc < N && gk < K) { v = f32(B[offB + gk * pu(9u) + gc * pu(10u)]); }
      Bs[kk * {{BN}}u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a: array<f32, {{TM}}>;
      var b: array<f32, {{TN}}>;
      for (var i = 0u; i < {{TM}}u; i++) { a[i] = As[kk * {{BM}}u + lid.y + i * 16u]; }
      for (var j = 0u; j < {{TN}}u; j++) { b[j] = Bs[kk * {{BN}}u + lid.x + j * 16u]; }
      for (var i = 0u; i < {{TM}}u; i++) {
        for (var j = 0u; j < {{TN}}u; j++) { acc[i * {{TN}}u + j] = fma(a[i], b[j], acc[i * {{TN}}u + j]); }
      }
    }
    workgroupBarrier();
  }
  let alpha = pf(12u);
  let offC = wid.z * pu(13u);
  for (var i = 0u; i < {{TM}}u; i++) {
    let r = rowBase + lid.y + i * 16u;
    for (var j = 0u; j < {{TN}}u; j++) {
      let c = colBase + lid.x + j * 16u;
      if (r < M && c < N) {
        var v = alpha * acc[i * {{TN}}u + j];
        {{ADD_BIAS}}
        {{ADD_OLD}}
        {{GELU}}
        C[offC + r * N + c] = {{TC}}(v);
      }
    }
  }
}

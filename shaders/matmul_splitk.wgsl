// Split-K's second pass: sums the S partial products [S, M*N] (f32) into C, then applies
// the epilogue (bias; GELU, keeping the pre-activation in Pre). One invocation per 4
// outputs, which needs N % 4 == 0.
// P: 0 M*N/4, 1 S, 2 N, 3 bias offset.
@group(0) @binding(1) var<storage, read> Part: array<vec4<f32>>;
{{DECL_BIAS}}
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> C: array<vec4<{{TC}}>>;
{{DECL_PRE}}

fn element(q: u32) {
  let n4 = pu(0u);
  var v = vec4<f32>(0.0);
  for (var s = 0u; s < pu(1u); s++) { v += Part[s * n4 + q]; }
  {{EPILOGUE}}
}

// Elementwise map over one or two strided inputs (broadcast by zero strides) into a dense
// output. {{EXPR}} is in terms of a, b (f32) and the scalar parameter c.
// P: 0 n, 1 a offset, 2 b offset, 3..9 shape, 9..15 a strides, 15..21 b strides, 21 c.
@group(0) @binding(1) var<storage, read> A: array<{{TA}}>;
{{DECL_B}}
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> O: array<{{TO}}>;

// The math helpers (gelu, tanh_f, pow_c) come from elementwise_math.wgsl.
fn element(i: u32) {
  let c = pf(21u);
  var ia = pu(1u) + i;
  var ib = pu(2u) + i;
  if ({{STRIDED}}) {
    ia = strided_index(i, pu(1u), 9u);
    ib = strided_index(i, pu(2u), 15u);
  }
  let a = f32(A[ia]);
  {{LOAD_B}}
  O[i] = {{TO}}({{EXPR}});
}

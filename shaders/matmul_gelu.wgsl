// Exact (erf) GELU on vec4, for the matmul epilogues; the same formulas as gelu() in
// elementwise.wgsl, whose gelu_grad the backward pass uses.
fn erf4(x: vec4<f32>) -> vec4<f32> {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); WGSL has no erf.
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
    + 0.254829592) * t * exp(-z * z);
  return select(y, -y, x < vec4<f32>(0.0));
}
fn gelu4(x: vec4<f32>) -> vec4<f32> { return 0.5 * x * (1.0 + erf4(x * 0.7071067811865476)); }

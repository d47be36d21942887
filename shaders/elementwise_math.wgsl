// Math helpers of the elementwise kernels (elementwise.wgsl, elementwise_vec4.wgsl).
const SQRT1_2 = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); WGSL has no erf.
fn erf_f(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
    + 0.254829592) * t * exp(-z * z);
  return select(y, -y, x < 0.0);
}
// tanh, clamped (f32 tanh overflows to NaN past |x| ~ 88 on some drivers) and by series
// near 0, where drivers compute it through exp(2x) and lose ~1e-7 absolute (5e-5 relative
// at x = 0.002). The x^9 term left out is below 2e-10 at |x| = 0.125.
fn tanh_f(x: f32) -> f32 {
  if (abs(x) < 0.125) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
  }
  return tanh(clamp(x, -15.0, 15.0));
}
fn gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_f(x * SQRT1_2)); }
fn gelu_grad(x: f32) -> f32 {
  return 0.5 * (1.0 + erf_f(x * SQRT1_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
}
// x^p for real p; negative bases allowed for integer p.
fn pow_c(x: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  if (x == 0.0) { return select(0.0, bitcast<f32>(0x7f800000u), p < 0.0); }
  let r = pow(abs(x), p);
  if (x > 0.0) { return r; }
  if (fract(p) != 0.0) { return bitcast<f32>(0x7fc00000u); }
  return select(r, -r, fract(p * 0.5) != 0.0);
}

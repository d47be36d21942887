// One AdamW step in place (decoupled weight decay, bias correction, as torch.optim.AdamW):
//   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//   p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps),
// with g scaled by min(1, max_norm / (norm + 1e-6)) when clipping (torch's clip_grad_norm_).
// P: 0 n, 1 lr, 2 b1, 3 b2, 4 eps, 5 weight decay, 6 bc1, 7 bc2, 8 g offset, 9 max norm.
@group(0) @binding(1) var<storage, read_write> Param: array<f32>;
@group(0) @binding(2) var<storage, read> Grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
@group(0) @binding(5) var<storage, read> Norm: array<f32>;

fn element(i: u32) {
  let lr = pf(1u);
  let b1 = pf(2u);
  let b2 = pf(3u);
  let maxNorm = pf(9u);
  let clip = select(1.0, min(1.0, maxNorm / (Norm[0] + 1e-6)), maxNorm > 0.0);
  let g = Grad[pu(8u) + i] * clip;
  var p = Param[i] * (1.0 - lr * pf(5u));
  let m = b1 * M[i] + (1.0 - b1) * g;
  let v = b2 * V[i] + (1.0 - b2) * g * g;
  M[i] = m;
  V[i] = v;
  p -= (lr / pf(6u)) * m / (sqrt(v) / sqrt(pf(7u)) + pf(4u));
  Param[i] = p;
}

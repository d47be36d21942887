// Dropout with a counter-based RNG: element i of call (seed, counter) is kept when
// hash(seed, counter, i) >= threshold. Nothing is stored: backward regenerates the mask.
// P: 0 n, 1 seed, 2 counter, 3 threshold (p * 2^32), 4 scale 1/(1-p), 5 x offset.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> Y: array<{{T}}>;

// PCG output permutation (O'Neill); three rounds decorrelate seed, call and index.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn element(i: u32) {
  let r = pcg(pcg(pcg(pu(1u)) ^ pu(2u)) ^ i);
  let keep = r >= pu(3u);
  Y[i] = {{T}}(select(0.0, f32(X[pu(5u) + i]) * pf(4u), keep));
}

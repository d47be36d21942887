// Fills a dense buffer with one value (zeros, ones, NaN poison in tests).
// P: 0 n, 1 value bits.
@group(0) @binding(1) var<storage, read_write> O: array<{{T}}>;

fn element(i: u32) {
  O[i] = bitcast<{{T}}>(pu(1u));
}

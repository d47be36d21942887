// Copies a strided view into another strided view of the same shape (contiguous(),
// concatenation, slice gradients).
// P: 0 n, 1 src offset, 2 dst offset, 3..9 shape, 9..15 src strides, 15..21 dst strides.
@group(0) @binding(1) var<storage, read> S: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> D: array<{{T}}>;

fn element(i: u32) {
  D[strided_index(i, pu(2u), 15u)] = S[strided_index(i, pu(1u), 9u)];
}

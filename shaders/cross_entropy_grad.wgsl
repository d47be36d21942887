// d logits = (softmax(x) - onehot(label)) * scale for valid rows, 0 for ignored rows;
// scale = upstream gradient / number of valid rows, read from a 1-element buffer.
// P: 0 total, 1 classes, 2 x offset, 3 labels offset, 4 ignore index.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Labels: array<i32>;
@group(0) @binding(3) var<storage, read> Rows: array<f32>;
@group(0) @binding(4) var<storage, read> Scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<{{T}}>;

fn element(e: u32) {
  let n = pu(1u);
  let row = e / n;
  let label = Labels[pu(3u) + row];
  if (label == bitcast<i32>(pu(4u))) { DX[e] = {{T}}(0.0); return; }
  let p = exp(f32(X[pu(2u) + e]) - Rows[3u * row + 2u]);
  DX[e] = {{T}}((p - select(0.0, 1.0, i32(e % n) == label)) * Scale[0]);
}

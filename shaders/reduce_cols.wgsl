// Reduces the middle axis of an [outer, n, inner] dense tensor, one thread per output and
// chunk of the axis: out[o, c, i] over k in [c*chunk, min(n, (c+1)*chunk)). Chunking keeps
// each invocation's loop short (llvmpipe silently stops loops after 65,535 iterations);
// the caller reduces over the chunks again when there are several.
// P: 0 outer*chunks*inner, 1 n, 2 inner, 3 input offset, 4 scale (f32), 5 chunk, 6 chunks.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> O: array<{{T}}>;

fn op(a: f32, b: f32) -> f32 { return {{OP}}; }

fn element(idx: u32) {
  let n = pu(1u);
  let inner = pu(2u);
  let chunks = pu(6u);
  let i = idx % inner;
  let c = (idx / inner) % chunks;
  let o = idx / (inner * chunks);
  let base = pu(3u) + o * n * inner + i;
  var acc = {{INIT}};
  for (var k = c * pu(5u); k < min(n, (c + 1u) * pu(5u)); k++) {
    acc = op(acc, f32(X[base + k * inner]));
  }
  O[idx] = {{T}}(acc * pf(4u));
}

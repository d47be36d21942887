// Reduces each contiguous row of n elements (one workgroup per row, tree in shared memory).
// Each element passes through {{MAP}} (of v) first, e.g. v * v for sums of squares.
// P: 0 rows, 1 n, 2 input offset, 3 scale (f32, applied to the result), 4 output offset.
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> O: array<{{T}}>;
var<workgroup> sh: array<f32, 256>;

fn op(a: f32, b: f32) -> f32 { return {{OP}}; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row = wg_linear(wid, nwg);
  if (row >= pu(0u)) { return; }
  let n = pu(1u);
  let base = pu(2u) + row * n;
  var acc = {{INIT}};
  for (var k = li; k < n; k += 256u) {
    let v = f32(X[base + k]);
    acc = op(acc, {{MAP}});
  }
  sh[li] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { sh[li] = op(sh[li], sh[li + s]); }
    workgroupBarrier();
  }
  if (li == 0u) { O[pu(4u) + row] = {{T}}(sh[0] * pf(3u)); }
}

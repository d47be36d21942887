// Gradient of index_select without float atomics: the CPU groups positions by id
// (Order lists positions sorted by id, Starts[u]..Starts[u+1] the run of the u-th
// distinct id); each invocation owns one (o, distinct id, i) output and sums its run in
// a fixed order, so the result is deterministic. Long runs are summed in rounds of at most
// `span` positions, each dispatch adding to DX (llvmpipe ends loops after 65,535 iterations).
// P: 0 total, 1 distinct ids, 2 count (positions), 3 rows, 4 inner, 5 g offset,
//    6 round start (positions into each run), 7 span.
@group(0) @binding(1) var<storage, read> G: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Uniq: array<i32>;
@group(0) @binding(3) var<storage, read> Starts: array<i32>;
@group(0) @binding(4) var<storage, read> Order: array<i32>;
@group(0) @binding(5) var<storage, read_write> DX: array<{{T}}>;

fn element(e: u32) {
  let inner = pu(4u);
  let nu = pu(1u);
  let i = e % inner;
  let u = (e / inner) % nu;
  let o = e / (inner * nu);
  var acc = 0.0;
  let first = Starts[u] + i32(pu(6u));
  for (var p = first; p < min(Starts[u + 1u], first + i32(pu(7u))); p++) {
    acc += f32(G[pu(5u) + (o * pu(2u) + u32(Order[p])) * inner + i]);
  }
  let at = (o * pu(3u) + u32(Uniq[u])) * inner + i;
  DX[at] = {{T}}(f32(DX[at]) + acc);
}

// Fused attention backward, key side, for {{R}} key rows: dV = dropout(P)^T dO and
// dK = scale dS^T Q, summed over every query row.
@group(0) @binding(1) var<storage, read> Q: array<vec4<{{T}}>>;
@group(0) @binding(2) var<storage, read> G: array<vec4<{{T}}>>;
@group(0) @binding(3) var<storage, read> Pr: array<{{T}}>;
@group(0) @binding(4) var<storage, read> dS: array<f32>;
@group(0) @binding(5) var<storage, read_write> dK: array<vec4<{{T}}>>;
@group(0) @binding(6) var<storage, read_write> dV: array<vec4<{{T}}>>;

fn body(s: u32, bh: u32, r0: u32, bi: u32, hd: u32, hc: u32, scale: f32, base: u32) {
  let qb = pu(11u) + bi * pu(12u) + hd;
  let gb = pu(23u) + bi * s * hc + hd;
  let db = bi * s * hc + hd;
  {{ROWS}}
  {{INIT}}
  for (var q = 0u; q < s; q++) {
    let pq = (bh * s + q) * s;
    {{STEP}}
  }
  {{STORE}}
}

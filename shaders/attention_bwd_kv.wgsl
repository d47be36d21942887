// Fused attention backward, key side, for {{R}} key rows: dV = dropout(P)^T dO and
// dK = scale dS^T Q, summed over every query row.
@group(0) @binding(1) var<storage, read> Q: array<vec4<{{T}}>>;
@group(0) @binding(2) var<storage, read> G: array<vec4<{{T}}>>;
@group(0) @binding(3) var<storage, read> Pr: array<{{T}}>;
@group(0) @binding(4) var<storage, read> dS: array<f32>;
@group(0) @binding(5) var<storage, read_write> dK: array<vec4<{{T}}>>;
@group(0) @binding(6) var<storage, read_write> dV: array<vec4<{{T}}>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let inv = wg_linear(wid, nwg) * {{WG}}u + li;
  if (inv >= pu(0u)) { return; }
  let s = pu(1u);
  let bh = inv / pu(3u);
  let r0 = (inv % pu(3u)) * {{R}}u;
  let bi = bh / pu(2u);
  let hd = (bh % pu(2u)) * {{C}}u;
  let hc = pu(2u) * {{C}}u;
  let scale = pf(4u);
  let base = drop_base();
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

// Fused attention backward, query side, for {{R}} query rows: dP = dropout'(dO V^T),
// dS = P (dP - D) with D = rowsum(dP P) = dO . O (the forward's output), dQ = scale dS K.
// dS is stored (f32) for the key-side kernel.
@group(0) @binding(1) var<storage, read> K: array<vec4<{{T}}>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<{{T}}>>;
@group(0) @binding(3) var<storage, read> G: array<vec4<{{T}}>>;
@group(0) @binding(4) var<storage, read> O: array<vec4<{{T}}>>;
@group(0) @binding(5) var<storage, read> Pr: array<{{T}}>;
@group(0) @binding(6) var<storage, read_write> dS: array<f32>;
@group(0) @binding(7) var<storage, read_write> dQ: array<vec4<{{T}}>>;

fn body(s: u32, bh: u32, r0: u32, bi: u32, hd: u32, hc: u32, scale: f32, base: u32) {
  let kb = pu(14u) + bi * pu(15u) + hd;
  let vb = pu(17u) + bi * pu(18u) + hd;
  let gb = pu(23u) + bi * s * hc + hd;
  let ob = pu(24u) + bi * s * hc + hd;
  let db = bi * s * hc + hd;
  {{ROWS}}
  {{LOADG}}
  {{INIT}}
  for (var j = 0u; j < s; j++) {
    {{STEP}}
  }
  {{STORE}}
}

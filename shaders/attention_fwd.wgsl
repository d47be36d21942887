// Fused attention forward: scores, masked softmax, dropout and the context for {{R}} query
// rows. Pass 1 keeps an online max and sum of the scores; pass 2 recomputes them, stores
// the probabilities in Pr when a backward pass needs them (binding 6, declared only then)
// and accumulates the dropped-out probabilities times V.
@group(0) @binding(1) var<storage, read> Q: array<vec4<{{T}}>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<{{T}}>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<{{T}}>>;
@group(0) @binding(4) var<storage, read> Mask: array<{{TM}}>;
@group(0) @binding(5) var<storage, read_write> O: array<vec4<{{T}}>>;
{{DECL_PR}}

fn mask_at(bi: u32, j: u32) -> f32 {
  if (pu(5u) == 0u) { return 0.0; }
  return f32(Mask[pu(20u) + bi * pu(21u) + j * pu(22u)]);
}

fn body(s: u32, bh: u32, r0: u32, bi: u32, hd: u32, hc: u32, scale: f32, base: u32) {
  let qb = pu(11u) + bi * pu(12u) + hd;
  let kb = pu(14u) + bi * pu(15u) + hd;
  let vb = pu(17u) + bi * pu(18u) + hd;
  let ob = bi * s * hc + hd;
  {{ROWS}}
  {{LOADQ}}
  {{INIT1}}
  for (var j = 0u; j < s; j++) {
    let mj = mask_at(bi, j);
    {{STEP1}}
  }
  {{INIT2}}
  for (var j = 0u; j < s; j++) {
    let mj = mask_at(bi, j);
    {{STEP2}}
  }
  {{STORE}}
}

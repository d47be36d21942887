// Shared by the fused attention kernels (src/tensor/kernels/attention.ts). One invocation
// owns one (batch, head) and a block of {{R}} rows (query rows forward and for dQ, key rows
// for dK, dV); the head dimension is a compile-time constant, so every loop over it is
// unrolled in the generated code and only the loop over the sequence counts against
// llvmpipe's 65,535-iteration cap.
// P: 0 invocations, 1 seq, 2 heads, 3 blocks per (batch, head), 4 scale, 5 has mask,
//    6 dropout on, 7 seed, 8 counter, 9 threshold, 10 1/(1-p), 11..20 Q, K, V offset,
//    batch and row strides (vec4s), 20 mask offset, 21 mask batch stride, 22 mask key
//    stride (scalars), 23 G offset, 24 O offset (vec4s; G, O dense [b, s, h]).

// The dropout kernel's PCG (shaders/dropout.wgsl): the same mask for the same seed,
// counter and flat index into [b, heads, s, s].
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn drop_base() -> u32 { return pcg(pcg(pu(7u)) ^ pu(8u)); }

// The entry point of every fused attention kernel: which (batch, head) and row block this
// invocation owns, then the kernel's body. s: sequence length, bh: batch * heads + head,
// r0: the block's first row, bi: batch, hd: the head's first element in h, hc: h.
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let inv = wg_linear(wid, nwg) * {{WG}}u + li;
  if (inv >= pu(0u)) { return; }
  let bh = inv / pu(3u);
  body(pu(1u), bh, (inv % pu(3u)) * {{R}}u, bh / pu(2u), (bh % pu(2u)) * {{C}}u,
       pu(2u) * {{C}}u, pf(4u), drop_base());
}

/** A probability after dropout, rounded as the dropout kernel rounds its output. */
fn dropped(p: f32, i: u32, base: u32) -> f32 {
  if (pu(6u) == 0u) { return p; }
  return select(0.0, f32({{T}}(p * pf(10u))), pcg(base ^ i) >= pu(9u));
}

/** The gradient through dropout of one probability. */
fn dropped_grad(g: f32, i: u32, base: u32) -> f32 {
  if (pu(6u) == 0u) { return g; }
  return select(0.0, g * pf(10u), pcg(base ^ i) >= pu(9u));
}

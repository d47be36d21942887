// Dense fast path of elementwise.wgsl: the output and every input are read and written as
// vec4s (on llvmpipe each storage access is a lane-by-lane loop: a vec4 costs about 3
// scalar ones, not 4). Each invocation maps {{V}} vec4s 256 apart, so neighbouring
// invocations touch neighbouring vec4s (coalesced on GPUs). Inputs are dense (index q),
// periodic (a dense row repeated along the output: bias, index q % period) or one scalar.
// {{EXPR}} is in terms of a, b (f32) and the scalar parameter c, evaluated per component.
// f16 inputs arrive packed, two halves per u32 (unpack4h).
// P: 0 vec4 count, 1 a offset, 2 b offset (vec4s; elements for a scalar), 3 a period,
//    4 b period (vec4s), 5 c.
{{DECL_A}}
{{DECL_B}}
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> O: array<vec4<{{TO}}>>;

fn op(a: f32, b: f32, c: f32) -> f32 { return {{EXPR}}; }
fn unpack4h(v: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
}

fn element4(q: u32) {
  let c = pf(5u);
  let a = {{LOAD_A}};
  let b = {{LOAD_B}};
  O[q] = vec4<{{TO}}>(vec4<f32>(op(a.x, b.x, c), op(a.y, b.y, c), op(a.z, b.z, c),
                               op(a.w, b.w, c)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let base = wg_linear(wid, nwg) * (256u * {{V}}u) + li;
  for (var k = 0u; k < {{V}}u; k++) {
    let q = base + k * 256u;
    if (q < pu(0u)) { element4(q); }
  }
}

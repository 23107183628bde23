// wg_reduce.wgsl — not a kernel: workgroup-wide sum and max over the WG threads of one workgroup, shared
// by layernorm, softmax, reduce, l2norm, optim, lhp_weights, lhp_count and reg (which include this file).
// The including shader declares `WG: u32` (override or const; a power of two ≤ 256). Fixed tree order (halving strides),
// so results are bitwise repeatable. Every thread of the workgroup must call these (barriers inside).
//
// fragment: workgroup-wide sum and max (reduce_sum, reduce_max)
// test: tests/kernels/reduce_test.ts

var<workgroup> red: array<f32, 256>;

fn reduce_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s: u32 = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s: u32 = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

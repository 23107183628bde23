// lhp_mix.wgsl — LHP mixing (hp-method.md §5.5 step 6) and its backward (§5.9), both as gathers:
//   forward   out_i = Σ_slot coef[i, slot] · src_{nbr(i, slot)}                 (s̃ from s)
//   backward  out_j = Σ_{i ∈ 3×3 window of j} coef[i, slot(j − i)] · src_i        (ds from ds̃)
// Each output element is owned by one thread: deterministic, no atomics. ACCUMULATE adds to out.
// Bindings: 0 coef [N, 9] read, 1 src [N, C] read, 2 out [N, C] read_write, 3 p uniform.
// One thread per output element, 256 per workgroup, grid1d.
//
// wrapper: core/model/lhp.ts
// reference: core/model/loss_ref.ts lhpMixRef, lhpMixBackwardRef
// test: tests/model/lhp_test.ts

override ACCUMULATE: bool = false;

struct Params { N: u32, S: u32, P: u32, C: u32, }

@group(0) @binding(0) var<storage, read> coef: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn store(idx: u32, v: f32) {
  if (ACCUMULATE) { out[idx] = out[idx] + v; } else { out[idx] = v; }
}

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.x + wid.y * nwg.x) * 256u + lid.x;
}

@compute @workgroup_size(256, 1, 1)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = element(wid, nwg, lid);
  if (e >= p.N * p.C) { return; }
  let i = e / p.C;
  let c = e % p.C;
  let b = i / p.P;
  let r = i % p.P;
  let y = i32(r / p.S);
  let x = i32(r % p.S);
  let s = i32(p.S);
  var acc = 0.0;
  for (var k: u32 = 0u; k < 9u; k = k + 1u) {
    let yy = y + i32(k / 3u) - 1;
    let xx = x + i32(k % 3u) - 1;
    if (yy < 0 || yy >= s || xx < 0 || xx >= s) { continue; }
    let j = b * p.P + u32(yy * s + xx);
    acc = acc + coef[i * 9u + k] * src[j * p.C + c];
  }
  store(e, acc);
}

@compute @workgroup_size(256, 1, 1)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = element(wid, nwg, lid);
  if (e >= p.N * p.C) { return; }
  let j = e / p.C;
  let c = e % p.C;
  let b = j / p.P;
  let r = j % p.P;
  let y = i32(r / p.S);
  let x = i32(r % p.S);
  let s = i32(p.S);
  var acc = 0.0;
  // Anchor i = j − (dy, dx) sees j in its slot (dy+1)·3 + (dx+1).
  for (var k: u32 = 0u; k < 9u; k = k + 1u) {
    let yy = y - (i32(k / 3u) - 1);
    let xx = x - (i32(k % 3u) - 1);
    if (yy < 0 || yy >= s || xx < 0 || xx >= s) { continue; }
    let i = b * p.P + u32(yy * s + xx);
    acc = acc + coef[i * 9u + k] * src[i * p.C + c];
  }
  store(e, acc);
}

// loss_sparse_group_fwd.wgsl — sparse path, forward over the random negatives, grouped by grid position
// (hp-method.md §5.3–§5.4): for the anchors i = b·P + r of a 64-anchor tile and every j ∈ U[r,·] \ {i}
// (all in D_i), the logits l_ij = ⟨y_i, y_j⟩/τ for y = z and z̃ as dense tiles (include/loss_group_common.wgsl),
// folded into per-anchor partials: online log-sum-exp (max, scaled sum) for z and z̃, S_y = Σ m_ij·l_ij,
// w = Σ m_ij, |P_ag ∩ U_r|, |P_sp ∩ U_r|, |U_r \ {i}|. loss_sparse_fwd.wgsl adds the positives outside U_r.
//   gpart [N, 12]: 0 max_z 1 sum_z 2 max_z̃ 3 sum_z̃ 4 S_z 5 S_z̃ 6 w 7 n_ag 8 n_sp 9 n_D  (rows of this chunk)
// FLOPs: 4·D·B·|U_r| per r (z and z̃ in one K-loop): 4·ρ·N²·D in all; each y_j row of U_r is read once
// per 64 anchors.
// Lanes of a row are merged in a fixed order (deterministic).
// Bindings: 0 z [N,D] read, 1 zt [N,D] read, 2 ag_bits, 3 sp_bits, 4 ucsr read, 5 gpart rw, 6 hp uniform,
//           7 chunk uniform. Workgroup 16×ROWQ; grid P·⌈B/TR⌉ workgroups (grid1d), t → (r = t % P, tile t / P).
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpLossRef
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "loss_group_common.wgsl"

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> zt: array<f32>;
@group(0) @binding(2) var<storage, read> ag_bits: array<u32>;
@group(0) @binding(3) var<storage, read> sp_bits: array<u32>;
@group(0) @binding(4) var<storage, read> ucsr: array<u32>;
@group(0) @binding(5) var<storage, read_write> gpart: array<f32>;
@group(0) @binding(6) var<uniform> hp: HpParams;
@group(0) @binding(7) var<uniform> chunk: Chunk;

// z̃'s staging (z uses s_a, s_b of the include): both logit tiles come out of one K-loop. After the loop
// the four arrays double as the lane-merge buffer [lane tx 16][tile row 64] (red_put / red_get).
var<workgroup> s_a2: array<vec4<f32>, 272>;
var<workgroup> s_b2: array<vec4<f32>, 272>;

fn red_put(e: u32, v: vec4<f32>) {
  switch (e / 256u) {
    case 0u: { s_a[e] = v; }
    case 1u: { s_b[e - 256u] = v; }
    case 2u: { s_a2[e - 512u] = v; }
    default: { s_b2[e - 768u] = v; }
  }
}

fn red_get(e: u32) -> vec4<f32> {
  switch (e / 256u) {
    case 0u: { return s_a[e]; }
    case 1u: { return s_b[e - 256u]; }
    case 2u: { return s_a2[e - 512u]; }
    default: { return s_b2[e - 768u]; }
  }
}

// Both logit tiles (z: .0, z̃: .1) of this thread's 4×4 block in one K-loop (see group_logits).
fn group_logits2(tid: u32, tx: u32, ty: u32) -> array<Blk, 2> {
  var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
  var d0 = vec4<f32>(0.0); var d1 = vec4<f32>(0.0); var d2 = vec4<f32>(0.0); var d3 = vec4<f32>(0.0);
  let q = tid / 16u;
  let kq = tid % 16u;
  let ra = 4u * q;
  let busy = (grow[4u * ty] != NONE || grow[4u * ty + 1u] != NONE || grow[4u * ty + 2u] != NONE ||
              grow[4u * ty + 3u] != NONE) && gcol[4u * tx] != NONE;
  for (var k0: u32 = 0u; k0 < hp.D; k0 = k0 + 16u) {
    let k = k0 + kq;
    let e = kq * T_STRIDE + q;
    s_a[e] = vec4<f32>(yrow(0u, grow[ra], k), yrow(0u, grow[ra + 1u], k), yrow(0u, grow[ra + 2u], k),
                       yrow(0u, grow[ra + 3u], k));
    s_a2[e] = vec4<f32>(yrow(1u, grow[ra], k), yrow(1u, grow[ra + 1u], k), yrow(1u, grow[ra + 2u], k),
                        yrow(1u, grow[ra + 3u], k));
    for (var f: u32 = tid; f < 256u; f = f + n_threads()) {
      let fq = f / 16u;
      let fk = k0 + f % 16u;
      let c = 4u * fq;
      let idx = (f % 16u) * T_STRIDE + fq;
      s_b[idx] = vec4<f32>(yrow(0u, gcol[c], fk), yrow(0u, gcol[c + 1u], fk), yrow(0u, gcol[c + 2u], fk),
                           yrow(0u, gcol[c + 3u], fk));
      s_b2[idx] = vec4<f32>(yrow(1u, gcol[c], fk), yrow(1u, gcol[c + 1u], fk), yrow(1u, gcol[c + 2u], fk),
                            yrow(1u, gcol[c + 3u], fk));
    }
    workgroupBarrier();
    for (var kk: u32 = 0u; busy && kk < 16u; kk = kk + 1u) {
      let a = s_a[kk * T_STRIDE + ty];
      let b = s_b[kk * T_STRIDE + tx];
      c0 = fma(a, vec4<f32>(b.x), c0); c1 = fma(a, vec4<f32>(b.y), c1);
      c2 = fma(a, vec4<f32>(b.z), c2); c3 = fma(a, vec4<f32>(b.w), c3);
      let a2 = s_a2[kk * T_STRIDE + ty];
      let b2 = s_b2[kk * T_STRIDE + tx];
      d0 = fma(a2, vec4<f32>(b2.x), d0); d1 = fma(a2, vec4<f32>(b2.y), d1);
      d2 = fma(a2, vec4<f32>(b2.z), d2); d3 = fma(a2, vec4<f32>(b2.w), d3);
    }
    workgroupBarrier();
  }
  return array<Blk, 2>(Blk(c0, c1, c2, c3), Blk(d0, d1, d2, d3));
}

fn yload(which: u32, i: u32, k: u32) -> f32 {
  if (which == 0u) { return z[i * hp.D + k]; }
  return zt[i * hp.D + k];
}

// Running per-row state of one thread (vec4 over its rows 4·ty + 0..3).
struct Acc { mx: vec4<f32>, se: vec4<f32>, s: vec4<f32>, w: vec4<f32>, nag: vec4<f32>, nsp: vec4<f32>, nd: vec4<f32>, }

fn col_step(acc: Acc, which: u32, lg: vec4<f32>, iv: vec4<u32>, j: u32) -> Acc {
  var o = acc;
  let ok = (iv != vec4<u32>(NONE)) & vec4<bool>(j != NONE) & (iv != vec4<u32>(j));
  if (!any(ok)) { return o; }
  let l = lg * hp.inv_tau;
  let ag = plane_bits(0u, iv, j, ok);
  let sp = plane_bits(1u, iv, j, ok);
  let zero = vec4<f32>(0.0);
  let one = vec4<f32>(1.0);
  let m = select(zero, one, ag) + hp.lambda * select(zero, one, sp);
  let nmx = select(o.mx, max(o.mx, l), ok);
  o.se = select(o.se, o.se * exp(o.mx - nmx) + exp(l - nmx), ok);
  o.mx = nmx;
  o.s = o.s + select(zero, m * l, ok);
  if (which == 0u) {
    o.w = o.w + select(zero, m, ok);
    o.nag = o.nag + select(zero, one, ok & ag);
    o.nsp = o.nsp + select(zero, one, ok & sp);
    o.nd = o.nd + select(zero, one, ok);
  }
  return o;
}

fn lse_merge(p: vec2<f32>, q: vec2<f32>) -> vec2<f32> {
  let m = max(p.x, q.x);
  return vec2<f32>(m, p.y * exp(p.x - m) + q.y * exp(q.x - m));
}

@compute @workgroup_size(16, ROWQ, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= hp.P * n_tiles()) { return; }
  let r = t % hp.P;
  let bt = t / hp.P;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  fill_rows(r, bt, tid);
  let count = workgroupUniformLoad(&g_count);
  let iv = vec4<u32>(grow[4u * ty], grow[4u * ty + 1u], grow[4u * ty + 2u], grow[4u * ty + 3u]);
  let zero = vec4<f32>(0.0);
  var az = Acc(vec4<f32>(NEG), zero, zero, zero, zero, zero, zero);
  var azt = Acc(vec4<f32>(NEG), zero, zero, zero, zero, zero, zero);
  for (var c0: u32 = 0u; c0 < count; c0 = c0 + 64u) {
    fill_cols(r, c0, count, tid);
    let bl = group_logits2(tid, tx, ty);
    let j0 = gcol[4u * tx];
    let j1 = gcol[4u * tx + 1u];
    let j2 = gcol[4u * tx + 2u];
    let j3 = gcol[4u * tx + 3u];
    az = col_step(az, 0u, bl[0].c0, iv, j0);
    az = col_step(az, 0u, bl[0].c1, iv, j1);
    az = col_step(az, 0u, bl[0].c2, iv, j2);
    az = col_step(az, 0u, bl[0].c3, iv, j3);
    azt = col_step(azt, 1u, bl[1].c0, iv, j0);
    azt = col_step(azt, 1u, bl[1].c1, iv, j1);
    azt = col_step(azt, 1u, bl[1].c2, iv, j2);
    azt = col_step(azt, 1u, bl[1].c3, iv, j3);
  }
  for (var which: u32 = 0u; which < 2u; which = which + 1u) {
    var acc = azt;
    if (which == 0u) { acc = az; }
    // Merge the 16 lanes (tx) of each tile row in order: (max, sum, S) then (w, n_ag, n_sp, n_D).
    workgroupBarrier();
    red_put(tx * 64u + 4u * ty, vec4<f32>(acc.mx.x, acc.se.x, acc.s.x, 0.0));
    red_put(tx * 64u + 4u * ty + 1u, vec4<f32>(acc.mx.y, acc.se.y, acc.s.y, 0.0));
    red_put(tx * 64u + 4u * ty + 2u, vec4<f32>(acc.mx.z, acc.se.z, acc.s.z, 0.0));
    red_put(tx * 64u + 4u * ty + 3u, vec4<f32>(acc.mx.w, acc.se.w, acc.s.w, 0.0));
    workgroupBarrier();
    for (var row: u32 = tid; row < tile_rows(); row = row + n_threads()) {
      if (grow[row] == NONE) { continue; }
      var ms = vec2<f32>(NEG, 0.0);
      var s = 0.0;
      for (var l: u32 = 0u; l < 16u; l = l + 1u) {
        let v = red_get(l * 64u + row);
        ms = lse_merge(ms, v.xy);
        s = s + v.z;
      }
      let i = grow[row];
      gpart[i * AUX + 2u * which] = ms.x;
      gpart[i * AUX + 2u * which + 1u] = ms.y;
      gpart[i * AUX + 4u + which] = s;
    }
    if (which == 0u) {
      workgroupBarrier();
      red_put(tx * 64u + 4u * ty, vec4<f32>(acc.w.x, acc.nag.x, acc.nsp.x, acc.nd.x));
      red_put(tx * 64u + 4u * ty + 1u, vec4<f32>(acc.w.y, acc.nag.y, acc.nsp.y, acc.nd.y));
      red_put(tx * 64u + 4u * ty + 2u, vec4<f32>(acc.w.z, acc.nag.z, acc.nsp.z, acc.nd.z));
      red_put(tx * 64u + 4u * ty + 3u, vec4<f32>(acc.w.w, acc.nag.w, acc.nsp.w, acc.nd.w));
      workgroupBarrier();
      for (var row: u32 = tid; row < tile_rows(); row = row + n_threads()) {
        if (grow[row] == NONE) { continue; }
        var s4 = vec4<f32>(0.0);
        for (var l: u32 = 0u; l < 16u; l = l + 1u) { s4 = s4 + red_get(l * 64u + row); }
        let i = grow[row];
        gpart[i * AUX + 6u] = s4.x;
        gpart[i * AUX + 7u] = s4.y;
        gpart[i * AUX + 8u] = s4.z;
        gpart[i * AUX + 9u] = s4.w;
      }
    }
  }
}

// loss_group_fwd.wgsl — sparse path, forward over the random negatives, grouped by grid position
// (hp-method.md §5.3–§5.4): for the anchors i = b·P + r of a 64-anchor tile and every j ∈ U[r,·] \ {i}
// (all in D_i), the logits l_ij = ⟨y_i, y_j⟩/τ for y = z and z̃ as dense tiles (include/loss_group_common.wgsl),
// folded into per-anchor partials: online log-sum-exp (max, scaled sum) for z and z̃, S_y = Σ m_ij·l_ij,
// w = Σ m_ij, |P_ag ∩ U_r|, |P_sp ∩ U_r|, |U_r \ {i}|. loss_sparse_fwd.wgsl adds the positives outside U_r.
//   gpart [N, 12]: 0 max_z 1 sum_z 2 max_z̃ 3 sum_z̃ 4 S_z 5 S_z̃ 6 w 7 n_ag 8 n_sp 9 n_D  (rows of this chunk)
// FLOPs: 4·D·B·|U_r| per r (z and z̃): 4·ρ·N²·D in all; each y_j row of U_r is read once per 64 anchors.
// Lanes of a row are merged in a fixed order (deterministic).
// Bindings: 0 z [N,D] read, 1 zt [N,D] read, 2 ag_bits, 3 sp_bits, 4 ucsr read, 5 gpart rw, 6 hp uniform,
//           7 chunk uniform. Workgroup 16×16; grid P·⌈B/64⌉ workgroups (grid1d), t → (r = t % P, tile t / P).
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

var<workgroup> red: array<vec4<f32>, 1024>; // [lane tx 16][tile row 64]

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

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= hp.P * ((hp.B + 63u) / 64u)) { return; }
  let r = t % hp.P;
  let bt = t / hp.P;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  fill_rows(r, bt, tid);
  let count = workgroupUniformLoad(&g_count);
  let iv = vec4<u32>(grow[4u * ty], grow[4u * ty + 1u], grow[4u * ty + 2u], grow[4u * ty + 3u]);
  let zero = vec4<f32>(0.0);
  for (var which: u32 = 0u; which < 2u; which = which + 1u) {
    var acc = Acc(vec4<f32>(NEG), zero, zero, zero, zero, zero, zero);
    for (var c0: u32 = 0u; c0 < count; c0 = c0 + 64u) {
      fill_cols(r, c0, count, tid);
      let blk = group_logits(which, tid, tx, ty);
      acc = col_step(acc, which, blk.c0, iv, gcol[4u * tx]);
      acc = col_step(acc, which, blk.c1, iv, gcol[4u * tx + 1u]);
      acc = col_step(acc, which, blk.c2, iv, gcol[4u * tx + 2u]);
      acc = col_step(acc, which, blk.c3, iv, gcol[4u * tx + 3u]);
    }
    // Merge the 16 lanes (tx) of each tile row in order: (max, sum, S) then (w, n_ag, n_sp, n_D).
    workgroupBarrier();
    red[tx * 64u + 4u * ty] = vec4<f32>(acc.mx.x, acc.se.x, acc.s.x, 0.0);
    red[tx * 64u + 4u * ty + 1u] = vec4<f32>(acc.mx.y, acc.se.y, acc.s.y, 0.0);
    red[tx * 64u + 4u * ty + 2u] = vec4<f32>(acc.mx.z, acc.se.z, acc.s.z, 0.0);
    red[tx * 64u + 4u * ty + 3u] = vec4<f32>(acc.mx.w, acc.se.w, acc.s.w, 0.0);
    workgroupBarrier();
    if (tid < 64u && grow[tid] != NONE) {
      var ms = vec2<f32>(NEG, 0.0);
      var s = 0.0;
      for (var l: u32 = 0u; l < 16u; l = l + 1u) {
        let v = red[l * 64u + tid];
        ms = lse_merge(ms, v.xy);
        s = s + v.z;
      }
      let i = grow[tid];
      gpart[i * AUX + 2u * which] = ms.x;
      gpart[i * AUX + 2u * which + 1u] = ms.y;
      gpart[i * AUX + 4u + which] = s;
    }
    if (which == 0u) {
      workgroupBarrier();
      red[tx * 64u + 4u * ty] = vec4<f32>(acc.w.x, acc.nag.x, acc.nsp.x, acc.nd.x);
      red[tx * 64u + 4u * ty + 1u] = vec4<f32>(acc.w.y, acc.nag.y, acc.nsp.y, acc.nd.y);
      red[tx * 64u + 4u * ty + 2u] = vec4<f32>(acc.w.z, acc.nag.z, acc.nsp.z, acc.nd.z);
      red[tx * 64u + 4u * ty + 3u] = vec4<f32>(acc.w.w, acc.nag.w, acc.nsp.w, acc.nd.w);
      workgroupBarrier();
      if (tid < 64u && grow[tid] != NONE) {
        var s4 = vec4<f32>(0.0);
        for (var l: u32 = 0u; l < 16u; l = l + 1u) { s4 = s4 + red[l * 64u + tid]; }
        let i = grow[tid];
        gpart[i * AUX + 6u] = s4.x;
        gpart[i * AUX + 7u] = s4.y;
        gpart[i * AUX + 8u] = s4.z;
        gpart[i * AUX + 9u] = s4.w;
      }
    }
  }
}

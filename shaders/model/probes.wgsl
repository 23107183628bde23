// probes.wgsl — cluster and linear probe losses and gradients on detached codes (hp-method.md §8.2, §8.3).
//
// Shapes (hp-method.md §0): code [N, D] with N = B·P, P = Sh·Sw, row = b·P + y·Sw + x; n = classes/clusters.
// Labels [B, H, W] i32 (valid when 0 ≤ label < n). Bilinear upsampling uses PyTorch's align_corners=false
// rule: src = max((o + 0.5)·in/out − 0.5, 0), i0 = min(floor(src), in − 1), i1 = min(i0 + 1, in − 1),
// λ = src − i0 (include/bilinear.wgsl).
//
// Entry points (all bindings group 0; unused ones are bound to dummies):
//   cluster_norm    workgroup (64) per centroid k: chat[k,:] = C[k,:]/max(‖C_k‖,1e-12), cinv[k] = 1/max(‖C_k‖,1e-12)
//                   b0 C [n,D] read · b1 chat [n,D] rw · b2 cinv [n] rw
//   cluster_assign  workgroup (64) per row i: ‖code_i‖, argmax_k raw[i,k]/‖code_i‖ → W[i,:] = one-hot/‖code_i‖,
//                   rowval[i] = max cosine.  b0 code [N,D] · b1 raw [N,n] read · b2 W [N,n] rw · b3 rowval [N] rw
//   cluster_grad    workgroup (64) per centroid k: with S = Wᵀ·code [n,D] (computed by a GEMM before),
//                   grad[k,:] = −(1/N)·(S_k − ⟨ĉ_k,S_k⟩ĉ_k)·cinv[k]   (through F.normalize; plain S_k·cinv when ‖C_k‖ < eps)
//                   b0 S [n,D] read · b1 chat read · b2 cinv read · b3 grad [n,D] rw
//   linear_lse      thread per output pixel o: lse[o] = logsumexp_k up(Z)[o,k]; per-workgroup partial
//                   (Σ ce, Σ valid) → partial[wg*2 + {0,1}].  b0 Z [N,n] read · b1 labels read · b2 lse rw · b3 partial rw
//   linear_loss     one workgroup (256): info[0] = Σce/Σvalid (mean CE), info[1] = Σvalid.  b0 partial read · b1 info rw
//   linear_grad_z   thread per (source row i, class k): dZ[i,k] = Σ_o w(o,i)·(softmax_k(o) − [label_o = k])/Σvalid
//                   over valid output pixels o whose bilinear taps include i.
//                   b0 Z read · b1 labels read · b2 lse read · b3 info read · b4 dZ [N,n] rw
// Workgroup sizes: 64 for the per-row / per-centroid kernels, 256 otherwise.
//
// wrapper: core/model/probes.ts
// reference: core/model/probes.ts clusterProbeRef, linearProbeRef
// test: tests/model/probes_test.ts

#include "bilinear.wgsl"

struct Params {
  N: u32, n: u32, D: u32, B: u32,
  Sh: u32, Sw: u32, H: u32, W: u32,
  partials: u32, out_off: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> b0: array<f32>;
@group(0) @binding(1) var<storage, read_write> b1: array<f32>;
@group(0) @binding(2) var<storage, read_write> b2: array<f32>;
@group(0) @binding(3) var<storage, read_write> b3: array<f32>;
@group(0) @binding(4) var<storage, read_write> b4: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const EPS: f32 = 1e-12;
var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<f32, 256>;

fn wg_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

// Sum of red[0..count) into red[0] (count a power of two, all threads call it).
fn reduce_sum(lid: u32, count: u32) {
  var s = count / 2u;
  loop {
    if (s == 0u) { break; }
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; red2[lid] = red2[lid] + red2[lid + s]; }
    workgroupBarrier();
    s = s / 2u;
  }
}

// ---- cluster probe ----------------------------------------------------------------------------------

@compute @workgroup_size(64)
fn cluster_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k = wid.x;
  let lid = lid3.x;
  var s = 0.0;
  for (var d = lid; d < p.D; d = d + 64u) { let v = b0[k * p.D + d]; s = s + v * v; }
  red[lid] = s;
  red2[lid] = 0.0;
  workgroupBarrier();
  reduce_sum(lid, 64u);
  let inv = 1.0 / max(sqrt(red[0]), EPS);
  for (var d = lid; d < p.D; d = d + 64u) { b1[k * p.D + d] = b0[k * p.D + d] * inv; }
  if (lid == 0u) { b2[k] = inv; }
}

// Bound as: b0 code, b1 raw (read through a rw binding), b2 W, b3 rowval.
@compute @workgroup_size(64)
fn cluster_assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid3: vec3<u32>) {
  let i = wg_index(wid, nwg);
  if (i >= p.N) { return; }
  let lid = lid3.x;
  var s = 0.0;
  for (var d = lid; d < p.D; d = d + 64u) { let v = b0[i * p.D + d]; s = s + v * v; }
  red[lid] = s;
  red2[lid] = 0.0;
  workgroupBarrier();
  reduce_sum(lid, 64u);
  let inv = 1.0 / max(sqrt(red[0]), EPS);
  var best = 0u;
  var bv = b1[i * p.n] * inv;
  for (var k = 1u; k < p.n; k = k + 1u) {
    let v = b1[i * p.n + k] * inv;
    if (v > bv) { bv = v; best = k; }
  }
  for (var k = lid; k < p.n; k = k + 64u) { b2[i * p.n + k] = select(0.0, inv, k == best); }
  if (lid == 0u) { b3[i] = bv; }
}

// Bound as: b0 S, b1 chat, b2 cinv, b3 grad.
@compute @workgroup_size(64)
fn cluster_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let k = wid.x;
  let lid = lid3.x;
  var s = 0.0;
  for (var d = lid; d < p.D; d = d + 64u) { s = s + b0[k * p.D + d] * b1[k * p.D + d]; }
  red[lid] = s;
  red2[lid] = 0.0;
  workgroupBarrier();
  reduce_sum(lid, 64u);
  let dot = red[0];
  let inv = b2[k];
  // ‖C_k‖ < eps ⇔ inv = 1/eps: F.normalize is then a plain scaling (no projection).
  let proj = select(1.0, 0.0, inv >= 1.0 / EPS);
  let coef = -1.0 / f32(p.N);
  for (var d = lid; d < p.D; d = d + 64u) {
    let sd = b0[k * p.D + d];
    b3[k * p.D + d] = coef * inv * (sd - proj * dot * b1[k * p.D + d]);
  }
}

// ---- linear probe -----------------------------------------------------------------------------------

// Interpolated logit k at output pixel (b, oy, ox) from Z (binding 0).
fn up_logit(b: u32, ty: Taps, tx: Taps, k: u32) -> f32 {
  let base = b * p.Sh * p.Sw;
  let z00 = b0[(base + ty.i0 * p.Sw + tx.i0) * p.n + k];
  let z01 = b0[(base + ty.i0 * p.Sw + tx.i1) * p.n + k];
  let z10 = b0[(base + ty.i1 * p.Sw + tx.i0) * p.n + k];
  let z11 = b0[(base + ty.i1 * p.Sw + tx.i1) * p.n + k];
  return (1.0 - ty.l) * ((1.0 - tx.l) * z00 + tx.l * z01) + ty.l * ((1.0 - tx.l) * z10 + tx.l * z11);
}

fn label_at(o: u32) -> i32 { return bitcast<i32>(b1[o]); }

// Bound as: b0 Z, b1 labels (i32 bits), b2 lse [B·H·W], b3 partial [wg, 2].
@compute @workgroup_size(256)
fn linear_lse(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid3: vec3<u32>) {
  let g = wg_index(wid, nwg);
  let lid = lid3.x;
  let o = g * 256u + lid;
  var ce = 0.0;
  var valid = 0.0;
  if (o < p.B * p.H * p.W) {
    let lab = label_at(o);
    if (lab >= 0 && u32(lab) < p.n) {
      let b = o / (p.H * p.W);
      let r = o % (p.H * p.W);
      let ty = taps(r / p.W, p.Sh, p.H);
      let tx = taps(r % p.W, p.Sw, p.W);
      var m = -3.0e38;
      for (var k = 0u; k < p.n; k = k + 1u) { m = max(m, up_logit(b, ty, tx, k)); }
      var s = 0.0;
      for (var k = 0u; k < p.n; k = k + 1u) { s = s + exp(up_logit(b, ty, tx, k) - m); }
      let lse = m + log(s);
      b2[o] = lse;
      ce = lse - up_logit(b, ty, tx, u32(lab));
      valid = 1.0;
    }
  }
  red[lid] = ce;
  red2[lid] = valid;
  workgroupBarrier();
  reduce_sum(lid, 256u);
  if (lid == 0u) { b3[g * 2u] = red[0]; b3[g * 2u + 1u] = red2[0]; }
}

// Bound as: b0 partial, b1 info [2].
@compute @workgroup_size(256)
fn linear_loss(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var s = 0.0;
  var c = 0.0;
  for (var i = lid; i < p.partials; i = i + 256u) { s = s + b0[i * 2u]; c = c + b0[i * 2u + 1u]; }
  red[lid] = s;
  red2[lid] = c;
  workgroupBarrier();
  reduce_sum(lid, 256u);
  if (lid == 0u) {
    b1[p.out_off] = select(0.0, red[0] / max(red2[0], 1.0), red2[0] > 0.0);
    b1[p.out_off + 1u] = red2[0];
  }
}

// Output pixels [lo, hi] (clamped) whose taps can include source index s along one axis.
fn out_range(s: u32, in_size: u32, out_size: u32) -> vec2<u32> {
  let inv = f32(out_size) / f32(in_size);
  let lo = i32(floor((f32(s) - 0.5) * inv - 0.5)) - 1;
  let hi = i32(ceil((f32(s) + 1.5) * inv - 0.5)) + 1;
  return vec2<u32>(u32(max(lo, 0)), u32(min(hi, i32(out_size) - 1)));
}

fn tap_weight(t: Taps, s: u32) -> f32 {
  return select(0.0, 1.0 - t.l, t.i0 == s) + select(0.0, t.l, t.i1 == s);
}

// Bound as: b0 Z, b1 labels, b2 lse, b3 info, b4 dZ.
@compute @workgroup_size(256)
fn linear_grad_z(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid3: vec3<u32>) {
  let t = wg_index(wid, nwg) * 256u + lid3.x;
  if (t >= p.N * p.n) { return; }
  let i = t / p.n;
  let k = t % p.n;
  let P = p.Sh * p.Sw;
  let b = i / P;
  let sy = (i % P) / p.Sw;
  let sx = i % p.Sw;
  let ry = out_range(sy, p.Sh, p.H);
  let rx = out_range(sx, p.Sw, p.W);
  var acc = 0.0;
  for (var oy = ry.x; oy <= ry.y; oy = oy + 1u) {
    let ty = taps(oy, p.Sh, p.H);
    let wy = tap_weight(ty, sy);
    if (wy == 0.0) { continue; }
    for (var ox = rx.x; ox <= rx.y; ox = ox + 1u) {
      let tx = taps(ox, p.Sw, p.W);
      let wx = tap_weight(tx, sx);
      if (wx == 0.0) { continue; }
      let o = (b * p.H + oy) * p.W + ox;
      let lab = label_at(o);
      if (lab < 0 || u32(lab) >= p.n) { continue; }
      var g = exp(up_logit(b, ty, tx, k) - b2[o]);
      if (u32(lab) == k) { g = g - 1.0; }
      acc = acc + wy * wx * g;
    }
  }
  b4[t] = acc / max(b3[p.out_off + 1u], 1.0);
}

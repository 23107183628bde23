// optim.wgsl — gradient global norm and Adam / AdamW over one flat parameter buffer (hp-method.md §6).
// Follows torch.optim.Adam / AdamW (PyTorch 1.13, single-tensor path) and torch.nn.utils.clip_grad_norm_.
// reduce_sum (for the norm) from include/wg_reduce.wgsl.
//
// Entry `sumsq_partial`: PART[w] = Σ G[i]² over this workgroup's strided share (fixed order).
//   0 G      read        [n]
//   1 PART   read_write  [groups]
//   2 params uniform     NormParams
//   Workgroup 256; grid (groups); thread t of group w reads i = w·256 + t + k·groups·256.
// Entry `sumsq_final` (one workgroup): NORM[0] = ‖G‖ = sqrt(Σ PART), NORM[1] = clip coefficient
//   min(1, max_norm / (‖G‖ + 1e-6)) as clip_grad_norm_ computes it.
//   0 PART   read        [groups]
//   1 NORM   read_write  [2]
//   2 params uniform     NormParams
// Entry `adam`: one element per thread (2-D grid of 256-thread workgroups), for i < n:
//   g = G[i] · (HAS_CLIP ? NORM[1] : 1)
//   DECOUPLED (AdamW): p = p · (1 − lr·wd)        else (Adam): g = g + wd·p
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g·g
//   p = p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps)
//   0 PRM    read_write  [n] parameters
//   1 G      read        [n] gradients
//   2 M      read_write  [n] first moment
//   3 V      read_write  [n] second moment
//   4 NORM   read        [2] from sumsq_final (bound to a dummy when !HAS_CLIP)
//   5 params uniform     AdamParams, rewritten once per step (lr, bias corrections)
//
// wrapper: core/kernels/optim.ts
// reference: core/kernels/optim.ts adamStepRef
// test: tests/kernels/optim_test.ts

#include "wg_reduce.wgsl"

override HAS_CLIP: bool = false;
override DECOUPLED: bool = true;

struct NormParams {
  n: u32, groups: u32, max_norm: f32, _p0: u32,
}

struct AdamParams {
  n: u32, _p0: u32, _p1: u32, _p2: u32,
  decay: f32,        // AdamW: 1 − lr·wd; Adam: wd (L2 added to the gradient)
  beta1: f32, one_minus_beta1: f32, beta2: f32,
  one_minus_beta2: f32, bc2_sqrt: f32, eps: f32, neg_step_size: f32,
}

@group(0) @binding(0) var<storage, read> NA: array<f32>;
@group(0) @binding(1) var<storage, read_write> NB: array<f32>;
@group(0) @binding(2) var<uniform> np: NormParams;

const WG: u32 = 256u; // for wg_reduce.wgsl's reduce_sum

@compute @workgroup_size(256, 1, 1)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  let stride = np.groups * 256u;
  for (var i = wid.x * 256u + lid; i < np.n; i = i + stride) {
    let g = NA[i];
    s = s + g * g;
  }
  let total = reduce_sum(s, lid);
  if (lid == 0u) { NB[wid.x] = total; }
}

@compute @workgroup_size(256, 1, 1)
fn sumsq_final(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < np.groups; i = i + 256u) { s = s + NA[i]; }
  let total = reduce_sum(s, lid);
  if (lid == 0u) {
    let norm = sqrt(total);
    NB[0] = norm;
    NB[1] = min(np.max_norm / (norm + 1e-6), 1.0);
  }
}

@group(0) @binding(0) var<storage, read_write> PRM: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> M: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<f32>;
@group(0) @binding(4) var<storage, read> NORM: array<f32>;
@group(0) @binding(5) var<uniform> ap: AdamParams;

@compute @workgroup_size(256, 1, 1)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= ap.n) { return; }
  var g = G[i];
  if (HAS_CLIP) { g = g * NORM[1]; }
  var p = PRM[i];
  if (DECOUPLED) { p = p * ap.decay; } else { g = g + ap.decay * p; }
  let m = M[i] * ap.beta1 + ap.one_minus_beta1 * g;
  let v = V[i] * ap.beta2 + ap.one_minus_beta2 * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) / ap.bc2_sqrt + ap.eps;
  PRM[i] = p + ap.neg_step_size * (m / denom);
}

// attention_lhp.wgsl — HP's LHP coefficients straight from the last ViT block's q and k (hp-method.md §5.5,
// dino-backbone.md §6.3 item 3): the head-mean pre-softmax patch logits of query patch i,
//   A(i, t) = (scale/H) · q_i · k_t    (q, k the C-wide rows of patch tokens; CLS and registers skipped),
// are computed into workgroup memory one row at a time and turned into the 9 window coefficients by
// include/lhp_row.wgsl, so the [B, P, P] logits never exist in memory.
// Each logit is one sequential fma chain over c = 0..C-1 followed by ·alpha, the same order as the GEMM
// that writes `attn` (kernels/gemm.wgsl), so the coefficients equal those of model/lhp_weights.wgsl on
// that tensor bit for bit.
// Bindings: 0 qkv [images·N, 3C] read (q in columns 0..C-1, k in C..2C-1), 1 coef [rows, 9] read_write,
//           2 params uniform.
// Grid: images·P workgroups (grid1d) of 256 threads, one per query row (b, i); coef row row_off + b·P + i.
// PPMAX (the padded row length, a power of two ≥ P) is written into its `const` line by the wrapper.
// qkv is stored as ST: f32, or f16 under the ViT's f16 precision (the wrapper sets the alias line and puts
// `enable f16;` in front of line 1); products and sums stay f32.
//
// wrapper: core/vit/attention.ts
// reference: core/vit/attention.ts headMeanLogitsRef, then core/model/loss_ref.ts lhpWeightsRef
// test: tests/vit/attention_test.ts

#include "lhp_row.wgsl"

const PPMAX: u32 = 1024u;

struct Params {
  images: u32, N: u32, T: u32, C: u32,
  S: u32, P: u32, PP: u32, row_off: u32,
  alpha: f32, sigma: f32, _p0: u32, _p1: u32,
}

alias ST = f32;
@group(0) @binding(0) var<storage, read> qkv: array<ST>;
@group(0) @binding(1) var<storage, read_write> coef: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u; // for lhp_row.wgsl and wg_reduce.wgsl
var<workgroup> logits: array<f32, PPMAX>;

fn row_logit(t: u32) -> f32 { return logits[t]; }

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x; // b·P + i
  if (row >= p.images * p.P) { return; }
  let tid = lid.x;
  let b = row / p.P;
  let i = row % p.P;
  let C3 = 3u * p.C;
  let qbase = (b * p.N + p.T + i) * C3;
  for (var t: u32 = tid; t < p.PP; t = t + WG) {
    var a = 3.0e38;
    if (t < p.P) {
      let kbase = (b * p.N + p.T + t) * C3 + p.C;
      var acc = 0.0;
      for (var c: u32 = 0u; c < p.C; c = c + 1u) { acc = fma(f32(qkv[qbase + c]), f32(qkv[kbase + c]), acc); }
      a = p.alpha * acc;
      logits[t] = a;
    }
    v[t] = a;
  }
  let c = lhp_row_coef(tid, i, p.S, p.P, p.PP, p.sigma);
  if (tid < 9u) { coef[(p.row_off + row) * 9u + tid] = c; }
}

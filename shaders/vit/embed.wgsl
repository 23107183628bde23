// embed.wgsl — ViT input side (dino-backbone.md §1.2 steps 1–3): im2col for the patch-embedding GEMM.
// (The CLS rows of the token matrix are the library's elementwise copy, core/vit/embed.ts prepareClsRows.)
//
// Entry `patchify`: for image b < Bc of the chunk, patch t = r·gw + c (row-major) and k = ch·p² + ky·p + kx
//   PATCHES[(b·n + t)·K + k] = IMG[img_off + b·3·H·W + ch·H·W + (r·p + ky)·W + (c·p + kx)],   K = 3p²
// so PATCHES · W_peᵀ (W_pe stored (C, 3, p, p) = (C, K)) is the stride-p convolution.
//
// Bindings (group 0):
//   0 IMG      read        [B, 3, H, W]
//   1 OUT      read_write  PATCHES [Bc·n, K]
//   2 params   uniform     struct Params
// Workgroup: 256 threads, one element each; linear index = (wid.x + wid.y·nwg.x)·256 + lid (grid1d).
//
// wrapper: core/vit/embed.ts
// reference: core/vit/embed.ts patchifyRef
// test: tests/vit/vit_test.ts

struct Params {
  count: u32,   // elements to write
  H: u32, W: u32, p: u32,
  gw: u32, n: u32, K: u32, img_off: u32,
}

@group(0) @binding(0) var<storage, read> IMG: array<f32>;
@group(0) @binding(1) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(2) var<uniform> q: Params;

@compute @workgroup_size(256)
fn patchify(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= q.count) { return; }
  let k = i % q.K;
  let bt = i / q.K;
  let t = bt % q.n;
  let b = bt / q.n;
  let pp = q.p * q.p;
  let ch = k / pp;
  let ky = (k % pp) / q.p;
  let kx = k % q.p;
  let r = t / q.gw;
  let c = t % q.gw;
  OUT[i] = IMG[q.img_off + b * 3u * q.H * q.W + ch * q.H * q.W + (r * q.p + ky) * q.W + c * q.p + kx];
}

// evaluate_pixels.wgsl — per-pixel evaluation (hp-method.md §8.1–§8.4): bilinear upsampling (align_corners=false)
// of per-patch class scores to the label size, cluster / linear argmax, confusion matrices, optional CRF
// probabilities. Bilinear taps from include/bilinear.wgsl.
//
// Inputs are per-patch scores, so the D-wide code is never upsampled: the cluster score of an upsampled
// pixel is up(code·Ĉᵀ)/‖up(code)‖ (linear in the code), whose argmax equals the argmax of up(code·Ĉᵀ); the
// norm ‖up(code)‖ is only needed for CRF probabilities softmax(2·cos) and is then computed from `code`.
// Linear logits up(code·Wᵀ + b) = up(code)·Wᵀ + b because bilinear weights sum to 1.
//
// Bindings (group 0):
//   0 cz     read  [N, n]  code·Ĉᵀ              (N = B·Sh·Sw, row = b·P + y·Sw + x)
//   1 lz     read  [N, n]  code·Wᵀ + b
//   2 labels read  [B·H·W] i32 (−1 = ignore; only read when HAS_LABELS)
//   3 code   read  [N, D]  (only read when WRITE_PROBS)
//   4 preds  rw    [2, B·H·W] u32: cluster argmax, then linear argmax
//   5 conf   rw    [2, n, n] atomic u32: H[pred, gt] for cluster, then linear (pixels with 0 ≤ gt < n)
//   6 probs  rw    [2, B·H·W, n] f32: softmax(2·cos) and softmax(logits) (only when WRITE_PROBS)
//   7 params uniform
// Workgroup 256 threads, one per output pixel; confusion counts go to a workgroup histogram (n ≤ 45, so
// 2·n² u32 fit in 16 KiB) flushed with one atomicAdd per non-zero bin.
//
// wrapper: core/eval/evaluate.ts
// reference: core/model/probes.ts upsampleRef + core/eval/metrics.ts Confusion
// test: tests/eval/evaluate_test.ts

#include "bilinear.wgsl"

override HAS_LABELS: bool = true;
override WRITE_PROBS: bool = false;
// false: the linear slot only (cz is not read; cluster ids are 0 and their counts meaningless), for models
// scored by their linear slot alone (the k-means baseline's nearest centroid).
override CLUSTER: bool = true;

struct Params { B: u32, Sh: u32, Sw: u32, H: u32, W: u32, n: u32, D: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read> cz: array<f32>;
@group(0) @binding(1) var<storage, read> lz: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> code: array<f32>;
@group(0) @binding(4) var<storage, read_write> preds: array<u32>;
@group(0) @binding(5) var<storage, read_write> conf: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> probs: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const MAXBINS: u32 = 4050u; // 2·45²
var<workgroup> hist: array<atomic<u32>, 4050>;

struct Corners { r00: u32, r01: u32, r10: u32, r11: u32, w00: f32, w01: f32, w10: f32, w11: f32 }

fn up(src: ptr<function, Corners>, k: u32, which: u32) -> f32 {
  let c = *src;
  if (which == 0u) {
    return c.w00 * cz[c.r00 * p.n + k] + c.w01 * cz[c.r01 * p.n + k] + c.w10 * cz[c.r10 * p.n + k] + c.w11 * cz[c.r11 * p.n + k];
  }
  return c.w00 * lz[c.r00 * p.n + k] + c.w01 * lz[c.r01 * p.n + k] + c.w10 * lz[c.r10 * p.n + k] + c.w11 * lz[c.r11 * p.n + k];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let bins = 2u * p.n * p.n;
  for (var i = lid; i < bins; i = i + 256u) { atomicStore(&hist[i], 0u); }
  workgroupBarrier();
  let o = (wid.x + wid.y * nwg.x) * 256u + lid;
  let pix = p.B * p.H * p.W;
  if (o < pix) {
    let b = o / (p.H * p.W);
    let r = o % (p.H * p.W);
    let ty = taps(r / p.W, p.Sh, p.H);
    let tx = taps(r % p.W, p.Sw, p.W);
    let base = b * p.Sh * p.Sw;
    var c = Corners(base + ty.i0 * p.Sw + tx.i0, base + ty.i0 * p.Sw + tx.i1, base + ty.i1 * p.Sw + tx.i0,
                    base + ty.i1 * p.Sw + tx.i1, (1.0 - ty.l) * (1.0 - tx.l), (1.0 - ty.l) * tx.l,
                    ty.l * (1.0 - tx.l), ty.l * tx.l);
    var bc = 0u; var vc = 0.0;
    if (CLUSTER) { vc = up(&c, 0u, 0u); }
    var bl = 0u; var vl = up(&c, 0u, 1u);
    for (var k = 1u; k < p.n; k = k + 1u) {
      if (CLUSTER) {
        let a = up(&c, k, 0u);
        if (a > vc) { vc = a; bc = k; }
      }
      let l = up(&c, k, 1u);
      if (l > vl) { vl = l; bl = k; }
    }
    preds[o] = bc;
    preds[pix + o] = bl;
    if (HAS_LABELS) {
      let g = labels[o];
      if (g >= 0 && u32(g) < p.n) {
        atomicAdd(&hist[bc * p.n + u32(g)], 1u);
        atomicAdd(&hist[p.n * p.n + bl * p.n + u32(g)], 1u);
      }
    }
    if (WRITE_PROBS) {
      // ‖up(code)‖ for the cluster cosine (F.normalize: max(‖x‖, 1e-12)).
      var s2 = 0.0;
      for (var d = 0u; d < p.D; d = d + 1u) {
        let v = c.w00 * code[c.r00 * p.D + d] + c.w01 * code[c.r01 * p.D + d] + c.w10 * code[c.r10 * p.D + d] +
          c.w11 * code[c.r11 * p.D + d];
        s2 = s2 + v * v;
      }
      let inv = 2.0 / max(sqrt(s2), 1e-12);
      var sc = 0.0; var sl = 0.0;
      for (var k = 0u; k < p.n; k = k + 1u) {
        sc = sc + exp((up(&c, k, 0u) - vc) * inv);
        sl = sl + exp(up(&c, k, 1u) - vl);
      }
      for (var k = 0u; k < p.n; k = k + 1u) {
        probs[o * p.n + k] = exp((up(&c, k, 0u) - vc) * inv) / sc;
        probs[(pix + o) * p.n + k] = exp(up(&c, k, 1u) - vl) / sl;
      }
    }
  }
  workgroupBarrier();
  if (HAS_LABELS) {
    for (var i = lid; i < bins; i = i + 256u) {
      let v = atomicLoad(&hist[i]);
      if (v > 0u) { atomicAdd(&conf[i], v); }
    }
  }
}

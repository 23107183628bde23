// gram128.wgsl — not a kernel: the 128×128 register-blocked dot-product tile of the HP loss's mask and
// threshold passes (model/loss_sparse_mask.wgsl, model/loss_threshold.wgsl). The design that reached
// 14 TFLOP/s on an H100 (webgpu-notes.md §8): 256 threads (16×16), each owns an 8×8 block as 2×2 blocks
// of 4×4 — rows {4·ty + a, 64 + 4·ty + a}, columns {4·tx + c, 64 + 4·tx + c} (a, c < 4) — held in sixteen
// named vec4 accumulators (no private array indexed by a loop variable: that spills to local memory).
// K-step 8, staged as vec4 of four consecutive rows per k in workgroup memory with a padded stride of
// 33 vec4 per k: the staging stores (8 consecutive threads = one row quad × 8 k's, i.e. 32 contiguous
// bytes per row in global memory) and the inner-loop reads (a broadcast for A, 16 consecutive vec4 for B)
// are both free of bank conflicts.
// The includer defines `load_a(which, row, k) -> f32` and `load_b(which, row, k) -> f32` returning 0 outside
// the matrices, and calls gram128 from uniform control flow (it contains barriers).
//
// fragment: the 128×128 Gram/GEMM tile of the HP mask and threshold passes
// reference: core/model/loss_ref.ts hpMasksRef, thresholdsRef
// test: tests/model/loss_test.ts

const G_KT: u32 = 8u;
const G_STRIDE: u32 = 33u; // vec4 per k-row of the staging arrays (32 row quads + 1 pad)

var<workgroup> g_a: array<vec4<f32>, 264>; // [k 8][row quad 32 (+1 pad)]
var<workgroup> g_b: array<vec4<f32>, 264>;

// Rows 0..7 of a thread's block (r0..r3 = 4·ty + 0..3, r4..r7 = 64 + 4·ty + 0..3); l = columns 4·tx + 0..3,
// h = columns 64 + 4·tx + 0..3.
struct Tile8 {
  r0l: vec4<f32>, r0h: vec4<f32>, r1l: vec4<f32>, r1h: vec4<f32>,
  r2l: vec4<f32>, r2h: vec4<f32>, r3l: vec4<f32>, r3h: vec4<f32>,
  r4l: vec4<f32>, r4h: vec4<f32>, r5l: vec4<f32>, r5h: vec4<f32>,
  r6l: vec4<f32>, r6h: vec4<f32>, r7l: vec4<f32>, r7h: vec4<f32>,
}

// ⟨a_row, b_col⟩ over k < dim for rows row0.. and columns col0.. (128 each) of the includer's matrices
// `which`; this thread's 8×8 block.
fn gram128(which: u32, dim: u32, row0: u32, col0: u32, tid: u32, tx: u32, ty: u32) -> Tile8 {
  var c0l = vec4<f32>(0.0); var c0h = vec4<f32>(0.0); var c1l = vec4<f32>(0.0); var c1h = vec4<f32>(0.0);
  var c2l = vec4<f32>(0.0); var c2h = vec4<f32>(0.0); var c3l = vec4<f32>(0.0); var c3h = vec4<f32>(0.0);
  var c4l = vec4<f32>(0.0); var c4h = vec4<f32>(0.0); var c5l = vec4<f32>(0.0); var c5h = vec4<f32>(0.0);
  var c6l = vec4<f32>(0.0); var c6h = vec4<f32>(0.0); var c7l = vec4<f32>(0.0); var c7h = vec4<f32>(0.0);
  let q = tid / G_KT; // row quad this thread stages
  let kq = tid % G_KT; // and its k
  for (var k0: u32 = 0u; k0 < dim; k0 = k0 + G_KT) {
    let k = k0 + kq;
    let ra = row0 + 4u * q;
    let rb = col0 + 4u * q;
    g_a[kq * G_STRIDE + q] = vec4<f32>(load_a(which, ra, k), load_a(which, ra + 1u, k), load_a(which, ra + 2u, k),
                                       load_a(which, ra + 3u, k));
    g_b[kq * G_STRIDE + q] = vec4<f32>(load_b(which, rb, k), load_b(which, rb + 1u, k), load_b(which, rb + 2u, k),
                                       load_b(which, rb + 3u, k));
    workgroupBarrier();
    for (var kk: u32 = 0u; kk < G_KT; kk = kk + 1u) {
      let al = g_a[kk * G_STRIDE + ty];
      let ah = g_a[kk * G_STRIDE + 16u + ty];
      let bl = g_b[kk * G_STRIDE + tx];
      let bh = g_b[kk * G_STRIDE + 16u + tx];
      c0l = fma(vec4<f32>(al.x), bl, c0l); c0h = fma(vec4<f32>(al.x), bh, c0h);
      c1l = fma(vec4<f32>(al.y), bl, c1l); c1h = fma(vec4<f32>(al.y), bh, c1h);
      c2l = fma(vec4<f32>(al.z), bl, c2l); c2h = fma(vec4<f32>(al.z), bh, c2h);
      c3l = fma(vec4<f32>(al.w), bl, c3l); c3h = fma(vec4<f32>(al.w), bh, c3h);
      c4l = fma(vec4<f32>(ah.x), bl, c4l); c4h = fma(vec4<f32>(ah.x), bh, c4h);
      c5l = fma(vec4<f32>(ah.y), bl, c5l); c5h = fma(vec4<f32>(ah.y), bh, c5h);
      c6l = fma(vec4<f32>(ah.z), bl, c6l); c6h = fma(vec4<f32>(ah.z), bh, c6h);
      c7l = fma(vec4<f32>(ah.w), bl, c7l); c7h = fma(vec4<f32>(ah.w), bh, c7h);
    }
    workgroupBarrier();
  }
  return Tile8(c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h, c4l, c4h, c5l, c5h, c6l, c6h, c7l, c7h);
}

// Row index (within the 128-row tile) of block row a of thread row ty.
fn g_row(ty: u32, a: u32) -> u32 {
  return select(4u * ty + a, 64u + 4u * ty + (a - 4u), a >= 4u);
}

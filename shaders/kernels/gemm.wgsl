// gemm.wgsl — batched C = epilogue(alpha · op(A) · op(B)), f32 storage and accumulation.
// Storage types: core/kernels/gemm.ts regenerates the A and B access lines below (declaration, scalar
// read a_at/b_at, 4-wide read a4_at/b4_at; same line count) for f16 storage (array<f16>, with
// `enable f16;` put in front of this first line) and/or vec4 storage (array<vec4<…>>, 16-byte loads,
// used by main128 when VEC_A/VEC_B say the operand's rows are 4-aligned). Reads convert with f32(), so
// tiles, accumulators and the epilogue are always f32. C is stored as CT (f32, or f16 when the wrapper
// sets the alias line: the epilogue's f32 result rounded once; the ViT's f16 precision stores qkv and the
// MLP hidden layer so). Every thread stores runs of 4 adjacent columns.
//
// Bindings (group 0):
//   0 A        read        element a(m,k) at a_off + b*a_bs + (TRANS_A ? k*lda + m : m*lda + k)
//   1 B        read        element b(k,n) at b_off + b*b_bs + (TRANS_B ? n*ldb + k : k*ldb + n)
//   2 C        read_write  element c(m,n) at c_off + b*c_bs + m*ldc + n
//   3 bias     read        [N] (used when HAS_BIAS)
//   4 residual read        r(m,n) at r_off + b*r_bs + m*ldr + n (used when HAS_RESIDUAL)
//   5 params   uniform     struct Params below
// Epilogue order: v = alpha·acc; v += bias[n]; v = act(v); v += residual; if ACCUMULATE v += c_old.
// Two entry points share the bindings, loads and epilogue:
//   main     16×16 threads, 64×64 output tile, K-step 16, 4×4 outputs per thread held in four vec4
//            registers indexed by constants only (a dynamically indexed accumulator array goes to local
//            memory and costs several-fold on NVIDIA, webgpu-notes.md §8). Grid (ceil(N/64), ceil(M/64), batch).
//   main128  16×16 threads, 128×128 tile, K-step 8, 8×8 outputs per thread, double-buffered K-tiles with
//            register prefetch, vec4 workgroup reads, an interior path without bounds tests, an unrolled
//            epilogue (see its comment below). Grid (ceil(N/128), ceil(M/128), batch).
//
// wrapper: core/kernels/gemm.ts
// reference: core/kernels/gemm.ts gemmRef
// test: tests/kernels/gemm_test.ts

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACT: u32 = 0u;          // 0 none, 1 relu, 2 gelu (erf)
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;
override ACCUMULATE: bool = false;
// main128 only: read 4 contiguous A (B) elements with one 4-wide load. The wrapper sets these only when
// the contiguous dimension, the row stride, the offset and the batch stride are multiples of 4.
override VEC_A: bool = false;
override VEC_B: bool = false;
// main128 only: the fully unrolled epilogue (true on GPUs; the wrapper sets false on software adapters).
override UNROLL_EPILOGUE: bool = true;

struct Params {
  M: u32, N: u32, K: u32, lda: u32,
  ldb: u32, ldc: u32, ldr: u32, a_off: u32,
  b_off: u32, c_off: u32, r_off: u32, a_bs: u32,
  b_bs: u32, c_bs: u32, r_bs: u32, alpha: f32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
fn a_at(i: u32) -> f32 { return f32(A[i]); }
fn a4_at(i: u32) -> vec4<f32> { return vec4<f32>(f32(A[i]), f32(A[i + 1u]), f32(A[i + 2u]), f32(A[i + 3u])); }
@group(0) @binding(1) var<storage, read> B: array<f32>;
fn b_at(i: u32) -> f32 { return f32(B[i]); }
fn b4_at(i: u32) -> vec4<f32> { return vec4<f32>(f32(B[i]), f32(B[i + 1u]), f32(B[i + 2u]), f32(B[i + 3u])); }
alias CT = f32;
@group(0) @binding(2) var<storage, read_write> C: array<CT>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const TILE: u32 = 64u;
const BK: u32 = 16u;

// Rows padded to 65 floats: the A tile (and the B tile under TRANS_B) is stored by 16 consecutive threads
// into 16 different k rows; with 64-float rows those all hit one bank (16-way conflict), with 65 none.
const TS: u32 = 65u;
var<workgroup> As: array<f32, 1040>; // [BK][TS]  (A staged transposed: k-major)
var<workgroup> Bs: array<f32, 1040>; // [BK][TS]

fn erf_approx(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd extension.
  let s = sign(x);
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return s * y;
}

fn activate(v: f32) -> f32 {
  if (ACT == 1u) { return max(v, 0.0); }
  if (ACT == 2u) { return 0.5 * v * (1.0 + erf_approx(v * 0.7071067811865476)); }
  return v;
}

fn load_a(batch: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  return load_a_unchecked(batch, m, k);
}

fn load_a_unchecked(batch: u32, m: u32, k: u32) -> f32 {
  let base = p.a_off + batch * p.a_bs;
  if (TRANS_A) { return a_at(base + k * p.lda + m); }
  return a_at(base + m * p.lda + k);
}

// (m, k) is the first of 4 elements contiguous in memory: along k (row-major A) or m (TRANS_A). With
// that dimension a multiple of 4, the 4 are all inside or all outside the matrix.
fn load_a4(batch: u32, m: u32, k: u32) -> vec4<f32> {
  if (m >= p.M || k >= p.K) { return vec4<f32>(0.0); }
  return load_a4_unchecked(batch, m, k);
}

fn load_a4_unchecked(batch: u32, m: u32, k: u32) -> vec4<f32> {
  let base = p.a_off + batch * p.a_bs;
  if (TRANS_A) { return a4_at(base + k * p.lda + m); }
  return a4_at(base + m * p.lda + k);
}

fn load_b(batch: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  return load_b_unchecked(batch, k, n);
}

fn load_b_unchecked(batch: u32, k: u32, n: u32) -> f32 {
  let base = p.b_off + batch * p.b_bs;
  if (TRANS_B) { return b_at(base + n * p.ldb + k); }
  return b_at(base + k * p.ldb + n);
}

// (k, n) is the first of 4 elements contiguous in memory: along n (row-major B) or k (TRANS_B).
fn load_b4(batch: u32, k: u32, n: u32) -> vec4<f32> {
  if (k >= p.K || n >= p.N) { return vec4<f32>(0.0); }
  return load_b4_unchecked(batch, k, n);
}

fn load_b4_unchecked(batch: u32, k: u32, n: u32) -> vec4<f32> {
  let base = p.b_off + batch * p.b_bs;
  if (TRANS_B) { return b4_at(base + n * p.ldb + k); }
  return b4_at(base + k * p.ldb + n);
}

fn store(batch: u32, m: u32, n: u32, acc: f32) {
  if (m >= p.M || n >= p.N) { return; }
  store_unchecked(batch, m, n, acc);
}

fn store_unchecked(batch: u32, m: u32, n: u32, acc: f32) {
  var v = p.alpha * acc;
  if (HAS_BIAS) { v = v + bias[n]; }
  v = activate(v);
  if (HAS_RESIDUAL) { v = v + residual[p.r_off + batch * p.r_bs + m * p.ldr + n]; }
  let idx = p.c_off + batch * p.c_bs + m * p.ldc + n;
  if (ACCUMULATE) { v = v + f32(C[idx]); }
  C[idx] = CT(v);
}

fn store_row(batch: u32, m: u32, n0: u32, acc: vec4<f32>) {
  store(batch, m, n0, acc.x);
  store(batch, m, n0 + 1u, acc.y);
  store(batch, m, n0 + 2u, acc.z);
  store(batch, m, n0 + 3u, acc.w);
}

// Four outputs of an interior tile: no bounds tests.
fn store_row_unchecked(batch: u32, m: u32, n0: u32, acc: vec4<f32>) {
  store_unchecked(batch, m, n0, acc.x);
  store_unchecked(batch, m, n0 + 1u, acc.y);
  store_unchecked(batch, m, n0 + 2u, acc.z);
  store_unchecked(batch, m, n0 + 3u, acc.w);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = wid.z;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  let tid = lid.y * 16u + lid.x;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let tm = lid.y * 4u; // this thread's 4 rows within the tile
  let tn = lid.x * 4u; // this thread's 4 columns within the tile

  for (var k0: u32 = 0u; k0 < p.K; k0 = k0 + BK) {
    // Each of the 256 threads loads 4 elements of the A tile and 4 of the B tile.
    for (var i: u32 = 0u; i < 4u; i = i + 1u) {
      let e = tid + i * 256u; // 0..1023
      // A tile element: m = e / BK, k = e % BK when A is row-major; k-major when transposed,
      // chosen so consecutive threads read consecutive addresses.
      var am: u32; var ak: u32;
      if (TRANS_A) { am = e % TILE; ak = e / TILE; } else { am = e / BK; ak = e % BK; }
      As[ak * TS + am] = load_a(batch, row0 + am, k0 + ak);
      var bk: u32; var bn: u32;
      if (TRANS_B) { bn = e / BK; bk = e % BK; } else { bk = e / TILE; bn = e % TILE; }
      Bs[bk * TS + bn] = load_b(batch, k0 + bk, col0 + bn);
    }
    workgroupBarrier();
    for (var kk: u32 = 0u; kk < BK; kk = kk + 1u) {
      let a = vec4<f32>(As[kk * TS + tm], As[kk * TS + tm + 1u], As[kk * TS + tm + 2u], As[kk * TS + tm + 3u]);
      let b = vec4<f32>(Bs[kk * TS + tn], Bs[kk * TS + tn + 1u], Bs[kk * TS + tn + 2u], Bs[kk * TS + tn + 3u]);
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  store_row(batch, row0 + tm, col0 + tn, acc0);
  store_row(batch, row0 + tm + 1u, col0 + tn, acc1);
  store_row(batch, row0 + tm + 2u, col0 + tn, acc2);
  store_row(batch, row0 + tm + 3u, col0 + tn, acc3);
}

// ---------------------------------------------------------------------------------------------------
// Entry `main128`: the large-tile variant for big GEMMs (chosen by core/kernels/gemm.ts by shape).
// Workgroup 16×16 threads, 128×128 output tile, K-step 8. Each thread owns 8×8 outputs as 2×2 blocks of
// 4×4: rows {ty*4 + i, 64 + ty*4 + i}, columns {tx*4 + j, 64 + tx*4 + j}, held in 16 vec4 registers named
// by constants (c<row><block>) — never an indexed array (webgpu-notes.md §8).
// - Staging: the A and B tiles are stored k-major into vec4 workgroup arrays whose rows are padded to 33
//   vec4s (132 floats), so the transposed scalar stores of A do not pile onto one bank, and the inner loop
//   reads each operand as two 16-byte vec4 loads (a broadcast for A, consecutive for B).
// - Double-buffered K tiles: two staging buffers; the next K-tile is fetched from global memory into
//   registers before the current one's FMAs run (load latency overlaps compute), then stored into the
//   other buffer, so one barrier per K-step suffices (the other buffer was last read before the previous
//   barrier).
// - Interior fast path: a workgroup whose 128×128 tile lies inside C loads full K-tiles and stores its
//   outputs without bounds tests (`full`, the same for every thread: a uniform branch).
// - Epilogue fully unrolled (UNROLL_EPILOGUE): 16 store_row sites, each naming its accumulator by a
//   constant, twice (interior without bounds tests, edge with). On a software adapter the wrapper turns it
//   off and blanks the unrolled lines out of the source: lavapipe's compile of the unrolled form takes
//   4–8× longer per constant set (~1.5 s against ~0.3 s), and there it is the compile, not the run, that
//   costs; the loop form picks the accumulators with constant-index selects (registers only).
// Grid: (ceil(N/128), ceil(M/128), batch).

const T2: u32 = 128u;
const BK2: u32 = 8u;
const S4: u32 = 33u; // padded row length of the staged tiles, in vec4s (132 floats)
const BUF4: u32 = 264u; // one staging buffer: BK2 rows of S4 vec4s

var<workgroup> As2: array<vec4<f32>, 528>; // [2][BK2][S4]
var<workgroup> Bs2: array<vec4<f32>, 528>; // [2][BK2][S4]

// Element e (0..1023) of a 128×8 A tile or 8×128 B tile: (row-or-col within tile, k within tile),
// mapped so consecutive threads read consecutive global addresses.
fn a_coord(e: u32) -> vec2<u32> {
  if (TRANS_A) { return vec2<u32>(e % T2, e / T2); }
  return vec2<u32>(e / BK2, e % BK2);
}

fn b_coord(e: u32) -> vec2<u32> {
  if (TRANS_B) { return vec2<u32>(e / BK2, e % BK2); }
  return vec2<u32>(e % T2, e / T2);
}

// With VEC_A / VEC_B each thread's 4 elements are one contiguous run (element j = first + j along the
// contiguous dimension), read with one 4-wide load.
fn a_coord_v(tid: u32, j: u32) -> vec2<u32> {
  if (TRANS_A) { return vec2<u32>((tid % 32u) * 4u + j, tid / 32u); }
  return vec2<u32>(tid / 2u, (tid % 2u) * 4u + j);
}

fn b_coord_v(tid: u32, j: u32) -> vec2<u32> {
  if (TRANS_B) { return vec2<u32>(tid / 2u, (tid % 2u) * 4u + j); }
  return vec2<u32>((tid % 32u) * 4u + j, tid / 32u);
}

// This thread's 4 A elements of the K-tile starting at k, as (x, y, z, w) = elements 0..3; `inside`
// (uniform) skips the bounds tests for a tile wholly inside A.
fn fetch_a(batch: u32, row0: u32, k: u32, e0: vec2<u32>, e1: vec2<u32>, e2: vec2<u32>, e3: vec2<u32>, inside: bool) -> vec4<f32> {
  if (inside) {
    if (VEC_A) { return load_a4_unchecked(batch, row0 + e0.x, k + e0.y); }
    return vec4<f32>(load_a_unchecked(batch, row0 + e0.x, k + e0.y), load_a_unchecked(batch, row0 + e1.x, k + e1.y),
                     load_a_unchecked(batch, row0 + e2.x, k + e2.y), load_a_unchecked(batch, row0 + e3.x, k + e3.y));
  }
  if (VEC_A) { return load_a4(batch, row0 + e0.x, k + e0.y); }
  return vec4<f32>(load_a(batch, row0 + e0.x, k + e0.y), load_a(batch, row0 + e1.x, k + e1.y),
                   load_a(batch, row0 + e2.x, k + e2.y), load_a(batch, row0 + e3.x, k + e3.y));
}

fn fetch_b(batch: u32, col0: u32, k: u32, e0: vec2<u32>, e1: vec2<u32>, e2: vec2<u32>, e3: vec2<u32>, inside: bool) -> vec4<f32> {
  if (inside) {
    if (VEC_B) { return load_b4_unchecked(batch, k + e0.y, col0 + e0.x); }
    return vec4<f32>(load_b_unchecked(batch, k + e0.y, col0 + e0.x), load_b_unchecked(batch, k + e1.y, col0 + e1.x),
                     load_b_unchecked(batch, k + e2.y, col0 + e2.x), load_b_unchecked(batch, k + e3.y, col0 + e3.x));
  }
  if (VEC_B) { return load_b4(batch, k + e0.y, col0 + e0.x); }
  return vec4<f32>(load_b(batch, k + e0.y, col0 + e0.x), load_b(batch, k + e1.y, col0 + e1.x),
                   load_b(batch, k + e2.y, col0 + e2.x), load_b(batch, k + e3.y, col0 + e3.x));
}

// Scalar f32 `v` to element (row r, column c) of the staged tile in buffer `buf` (4·S4 floats per row).
fn put_a(buf: u32, e: vec2<u32>, v: f32) {
  let i = (buf * BUF4 + e.y * S4) * 4u + e.x;
  As2[i >> 2u][i & 3u] = v;
}

fn put_b(buf: u32, e: vec2<u32>, v: f32) {
  let i = (buf * BUF4 + e.y * S4) * 4u + e.x;
  Bs2[i >> 2u][i & 3u] = v;
}

@compute @workgroup_size(16, 16, 1)
fn main128(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = wid.z;
  let row0 = wid.y * T2;
  let col0 = wid.x * T2;
  let tid = lid.y * 16u + lid.x;
  let ty = lid.y;
  let tx = lid.x;
  // The tile lies wholly inside C (and so inside A's rows and B's columns): no bounds tests except K.
  let full = row0 + T2 <= p.M && col0 + T2 <= p.N;

  var c00 = vec4<f32>(0.0);
  var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0);
  var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0);
  var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0);
  var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0);
  var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0);
  var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0);
  var c71 = vec4<f32>(0.0);

  // Tile coordinates of this thread's 4 A and 4 B elements (fixed for the whole K loop).
  let ea0 = select(a_coord(tid), a_coord_v(tid, 0u), VEC_A);
  let ea1 = select(a_coord(tid + 256u), a_coord_v(tid, 1u), VEC_A);
  let ea2 = select(a_coord(tid + 512u), a_coord_v(tid, 2u), VEC_A);
  let ea3 = select(a_coord(tid + 768u), a_coord_v(tid, 3u), VEC_A);
  let eb0 = select(b_coord(tid), b_coord_v(tid, 0u), VEC_B);
  let eb1 = select(b_coord(tid + 256u), b_coord_v(tid, 1u), VEC_B);
  let eb2 = select(b_coord(tid + 512u), b_coord_v(tid, 2u), VEC_B);
  let eb3 = select(b_coord(tid + 768u), b_coord_v(tid, 3u), VEC_B);
  var ra = fetch_a(batch, row0, 0u, ea0, ea1, ea2, ea3, full && BK2 <= p.K);
  var rb = fetch_b(batch, col0, 0u, eb0, eb1, eb2, eb3, full && BK2 <= p.K);
  put_a(0u, ea0, ra.x);
  put_a(0u, ea1, ra.y);
  put_a(0u, ea2, ra.z);
  put_a(0u, ea3, ra.w);
  put_b(0u, eb0, rb.x);
  put_b(0u, eb1, rb.y);
  put_b(0u, eb2, rb.z);
  put_b(0u, eb3, rb.w);
  workgroupBarrier();

  var buf = 0u;
  for (var k0: u32 = 0u; k0 < p.K; k0 = k0 + BK2) {
    // Prefetch the next K-tile into registers (zeros past K) while this one is consumed.
    let k1 = k0 + BK2;
    let more = k1 < p.K;
    if (more) {
      ra = fetch_a(batch, row0, k1, ea0, ea1, ea2, ea3, full && k1 + BK2 <= p.K);
      rb = fetch_b(batch, col0, k1, eb0, eb1, eb2, eb3, full && k1 + BK2 <= p.K);
    }
    let base = buf * BUF4;
    for (var kk: u32 = 0u; kk < BK2; kk = kk + 1u) {
      let o = base + kk * S4;
      let a0 = As2[o + ty];
      let a1 = As2[o + 16u + ty];
      let b0 = Bs2[o + tx];
      let b1 = Bs2[o + 16u + tx];
      c00 = fma(vec4<f32>(a0.x), b0, c00);
      c01 = fma(vec4<f32>(a0.x), b1, c01);
      c10 = fma(vec4<f32>(a0.y), b0, c10);
      c11 = fma(vec4<f32>(a0.y), b1, c11);
      c20 = fma(vec4<f32>(a0.z), b0, c20);
      c21 = fma(vec4<f32>(a0.z), b1, c21);
      c30 = fma(vec4<f32>(a0.w), b0, c30);
      c31 = fma(vec4<f32>(a0.w), b1, c31);
      c40 = fma(vec4<f32>(a1.x), b0, c40);
      c41 = fma(vec4<f32>(a1.x), b1, c41);
      c50 = fma(vec4<f32>(a1.y), b0, c50);
      c51 = fma(vec4<f32>(a1.y), b1, c51);
      c60 = fma(vec4<f32>(a1.z), b0, c60);
      c61 = fma(vec4<f32>(a1.z), b1, c61);
      c70 = fma(vec4<f32>(a1.w), b0, c70);
      c71 = fma(vec4<f32>(a1.w), b1, c71);
    }
    if (more) {
      let nb = 1u - buf;
      put_a(nb, ea0, ra.x);
      put_a(nb, ea1, ra.y);
      put_a(nb, ea2, ra.z);
      put_a(nb, ea3, ra.w);
      put_b(nb, eb0, rb.x);
      put_b(nb, eb1, rb.y);
      put_b(nb, eb2, rb.z);
      put_b(nb, eb3, rb.w);
    }
    workgroupBarrier();
    buf = 1u - buf;
  }
  // Epilogue, fully unrolled: row i of the thread's 8 is row0 + (i / 4)·64 + ty·4 + i % 4.
  let r0 = row0 + ty * 4u;
  let r1 = r0 + 64u;
  let n0 = col0 + tx * 4u;
  let n1 = n0 + 64u;
  if (UNROLL_EPILOGUE) {
    // unrolled-epilogue-begin (core/kernels/gemm.ts blanks these lines for the compact form)
    if (full) {
      store_row_unchecked(batch, r0, n0, c00);
      store_row_unchecked(batch, r0, n1, c01);
      store_row_unchecked(batch, r0 + 1u, n0, c10);
      store_row_unchecked(batch, r0 + 1u, n1, c11);
      store_row_unchecked(batch, r0 + 2u, n0, c20);
      store_row_unchecked(batch, r0 + 2u, n1, c21);
      store_row_unchecked(batch, r0 + 3u, n0, c30);
      store_row_unchecked(batch, r0 + 3u, n1, c31);
      store_row_unchecked(batch, r1, n0, c40);
      store_row_unchecked(batch, r1, n1, c41);
      store_row_unchecked(batch, r1 + 1u, n0, c50);
      store_row_unchecked(batch, r1 + 1u, n1, c51);
      store_row_unchecked(batch, r1 + 2u, n0, c60);
      store_row_unchecked(batch, r1 + 2u, n1, c61);
      store_row_unchecked(batch, r1 + 3u, n0, c70);
      store_row_unchecked(batch, r1 + 3u, n1, c71);
    } else {
      store_row(batch, r0, n0, c00);
      store_row(batch, r0, n1, c01);
      store_row(batch, r0 + 1u, n0, c10);
      store_row(batch, r0 + 1u, n1, c11);
      store_row(batch, r0 + 2u, n0, c20);
      store_row(batch, r0 + 2u, n1, c21);
      store_row(batch, r0 + 3u, n0, c30);
      store_row(batch, r0 + 3u, n1, c31);
      store_row(batch, r1, n0, c40);
      store_row(batch, r1, n1, c41);
      store_row(batch, r1 + 1u, n0, c50);
      store_row(batch, r1 + 1u, n1, c51);
      store_row(batch, r1 + 2u, n0, c60);
      store_row(batch, r1 + 2u, n1, c61);
      store_row(batch, r1 + 3u, n0, c70);
      store_row(batch, r1 + 3u, n1, c71);
    }
    // unrolled-epilogue-end
  } else {
    // Compact form for software adapters (see UNROLL_EPILOGUE).
    for (var i: u32 = 0u; i < 8u; i = i + 1u) {
      var v0 = c00;
      var v1 = c01;
      if (i == 1u) { v0 = c10; v1 = c11; }
      if (i == 2u) { v0 = c20; v1 = c21; }
      if (i == 3u) { v0 = c30; v1 = c31; }
      if (i == 4u) { v0 = c40; v1 = c41; }
      if (i == 5u) { v0 = c50; v1 = c51; }
      if (i == 6u) { v0 = c60; v1 = c61; }
      if (i == 7u) { v0 = c70; v1 = c71; }
      let row = row0 + (i / 4u) * 64u + ty * 4u + (i % 4u);
      store_row(batch, row, n0, v0);
      store_row(batch, row, n1, v1);
    }
  }
}

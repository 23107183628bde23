// reduce.wgsl — row reductions (sum, max, logsumexp) and deterministic column sums, f32.
//
// Entry `rows`: one workgroup of WG threads per row r < rows (2-D grid, row = wid.x + wid.y·nwg.x):
//   v = OP over c < cols of X[x_off + r*ldx + c]   (OP 0 sum, 1 max, 2 logsumexp = m + log Σ exp(x − m))
//   Y[y_off + r*incy] = alpha · v  (+ old Y when ACCUMULATE)
// Entries `col_partial` + `col_finish`: column sums Y[y_off + c*incy] = alpha · Σ_r X[x_off + r*ldx + c]
// in two passes with a fixed summation order and no atomics, so results are bitwise repeatable
// (webgpu-notes.md §3.2). Pass 1: workgroup (64 columns × 4 row lanes) per (column tile, chunk of CHUNK
// rows); lane l sums rows l, l+4, … of its chunk in order, then the 4 lanes add in a fixed tree, writing
// P[chunk*cols + c]. Pass 2: one thread per column adds the chunks in order. With one chunk, pass 1
// writes Y directly (FINAL) and pass 2 is skipped. TWO_OUT (column sums only) also stores every result
// at y_off2 + c*incy (two bias gradients that equal the same column sum).
//
// Bindings (group 0):
//   0 X      read
//   1 Y      read_write
//   2 P      read_write  [chunks, cols] partial sums (column sums only; a dummy otherwise)
//   3 params uniform     struct Params
// reduce_sum, reduce_max (row entry) from include/wg_reduce.wgsl.
//
// wrapper: core/kernels/reduce.ts
// reference: core/kernels/reduce.ts rowReduceRef, colSumRef
// test: tests/kernels/reduce_test.ts

#include "wg_reduce.wgsl"

override WG: u32 = 256u;
override OP: u32 = 0u;
override ACCUMULATE: bool = false;
override FINAL: bool = false;
override CHUNK: u32 = 256u;
override TWO_OUT: bool = false;

struct Params {
  rows: u32, cols: u32, ldx: u32, x_off: u32,
  y_off: u32, incy: u32, chunks: u32, alpha: f32,
  y_off2: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const NEG: f32 = -1e30;

fn combine(a: f32, b: f32) -> f32 {
  if (OP == 0u) { return a + b; }
  return max(a, b);
}

// max and logsumexp see values clamped to NEG so that they stay finite (webgpu-notes.md §2.3).
fn load(i: u32) -> f32 {
  if (OP == 0u) { return X[i]; }
  return max(X[i], NEG);
}

// Output k (k = index·incy) goes to Y[y_off + k], and also to Y[y_off2 + k] when TWO_OUT.
fn store_at(i: u32, v: f32) {
  var o = p.alpha * v;
  if (ACCUMULATE) { o = o + Y[i]; }
  Y[i] = o;
}

fn store(k: u32, v: f32) {
  store_at(p.y_off + k, v);
  if (TWO_OUT) { store_at(p.y_off2 + k, v); }
}

@compute @workgroup_size(WG)
fn rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = p.x_off + row * p.ldx;
  var acc: f32;
  if (OP == 0u) { acc = 0.0; } else { acc = NEG; }
  for (var c = lid; c < p.cols; c = c + WG) { acc = combine(acc, load(base + c)); }
  var m: f32;
  if (OP == 0u) { m = reduce_sum(acc, lid); } else { m = reduce_max(acc, lid); }
  var result = m;
  if (OP == 2u) {
    var s = 0.0;
    for (var c = lid; c < p.cols; c = c + WG) { s = s + exp(load(base + c) - m); }
    result = m + log(reduce_sum(s, lid));
  }
  if (lid == 0u) { store(row * p.incy, result); }
}

var<workgroup> lanes: array<f32, 256>; // [4][64]

@compute @workgroup_size(64, 4, 1)
fn col_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x * 64u + lid.x;
  let chunk = wid.y;
  let r0 = chunk * CHUNK;
  let r1 = min(r0 + CHUNK, p.rows);
  var s = 0.0;
  if (c < p.cols) {
    for (var r = r0 + lid.y; r < r1; r = r + 4u) { s = s + X[p.x_off + r * p.ldx + c]; }
  }
  lanes[lid.y * 64u + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && c < p.cols) {
    let t = (lanes[lid.x] + lanes[64u + lid.x]) + (lanes[128u + lid.x] + lanes[192u + lid.x]);
    if (FINAL) { store(c * p.incy, t); } else { P[chunk * p.cols + c] = t; }
  }
}

@compute @workgroup_size(64, 1, 1)
fn col_finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * 64u;
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var k: u32 = 0u; k < p.chunks; k = k + 1u) { s = s + P[k * p.cols + c]; }
  store(c * p.incy, s);
}

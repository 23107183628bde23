// loss_sparse_urows.wgsl — sparse path: this step's Bernoulli rows as bits, with the rank tables the grouped
// kernels use to address the set bits of a row (hp-method.md §5.3). ucsr (u32) holds, for W = ⌈N/32⌉:
//   [0, P·W)        bits:   word r·W + w bit k ⇔ U[r, j = 32w + k] ⇔ hash_uniform(seed, r·N + j) < ρ  (j < N)
//   [P·W, 2·P·W)    offset: set bits of row r before word w (row-local exclusive prefix)
//   [2·P·W, +2·P)   row r: 2r = set bits of rows before r (written by loss_sparse_uscan.wgsl), 2r+1 = |U_r|
//   [2·P·W + 2·P, + N·Wp)  the transpose, Wp = ⌈P/32⌉: word i·Wp + v bit k ⇔ U[r = 32v + k, i] (an owner's
//                   positions in one short walk, loss_sparse_bwd.wgsl)
// Workgroups 0..P−1: one per row r, words in blocks of 256 (thread per word, 32 hashes), block prefix sums
// by a fixed Hillis–Steele scan (deterministic). Workgroups P..: one thread per transposed word.
// Grid: P + ⌈N·Wp/256⌉ workgroups (grid1d).
// Bindings: 0 ucsr rw, 1 hp uniform.
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts bernoulliRows
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"

@group(0) @binding(0) var<storage, read_write> ucsr: array<u32>;
@group(0) @binding(1) var<uniform> hp: HpParams;

var<workgroup> sh: array<u32, 256>;

// Inclusive prefix sum of v over the 256 threads (call from uniform control flow).
fn scan256(v0: u32, tid: u32) -> u32 {
  var v = v0;
  for (var off: u32 = 1u; off < 256u; off = off * 2u) {
    sh[tid] = v;
    workgroupBarrier();
    if (tid >= off) { v = v + sh[tid - off]; }
    workgroupBarrier();
  }
  return v;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = wid.x + wid.y * nwg.x;
  let tid = lid.x;
  let W = (hp.N + 31u) / 32u;
  if (r >= hp.P) {
    let Wp = (hp.P + 31u) / 32u;
    let e = (r - hp.P) * 256u + tid;
    if (e >= hp.N * Wp) { return; }
    let i = e / Wp;
    let v = e % Wp;
    var tb = 0u;
    for (var k: u32 = 0u; k < 32u; k = k + 1u) {
      let rr = v * 32u + k;
      if (rr < hp.P && neg_u(rr, i)) { tb = tb | (1u << k); }
    }
    ucsr[2u * hp.P * W + 2u * hp.P + e] = tb;
    return;
  }
  var carry = 0u;
  for (var base: u32 = 0u; base < W; base = base + 256u) {
    let w = base + tid;
    var bits = 0u;
    if (w < W) {
      for (var k: u32 = 0u; k < 32u; k = k + 1u) {
        let j = w * 32u + k;
        if (j < hp.N && neg_u(r, j)) { bits = bits | (1u << k); }
      }
    }
    let c = countOneBits(bits);
    let incl = scan256(c, tid);
    if (w < W) {
      ucsr[r * W + w] = bits;
      ucsr[hp.P * W + r * W + w] = carry + incl - c;
    }
    sh[tid] = incl;
    carry = carry + workgroupUniformLoad(&sh[255]);
    workgroupBarrier(); // everyone has read sh[255] before the next block's scan overwrites it
  }
  if (tid == 0u) { ucsr[2u * hp.P * W + 2u * r + 1u] = carry; }
}

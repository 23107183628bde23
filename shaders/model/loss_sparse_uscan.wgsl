// loss_sparse_uscan.wgsl — sparse path: the row offsets of the random-negative rank tables
// (loss_sparse_urows.wgsl layout): ucsr[2·P·W + 2r] = Σ_{r' < r} |U_r'|, the first contrast-partial slot of
// row r (loss_sparse_group_bwd.wgsl). One workgroup of 256 threads, rows in blocks of 256, fixed Hillis–Steele
// scan (deterministic). Grid: 1 workgroup.
// Bindings: 0 ucsr rw, 1 hp uniform.
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts bernoulliRows (the slot of a pair is its rank in the row-major list)
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"

@group(0) @binding(0) var<storage, read_write> ucsr: array<u32>;
@group(0) @binding(1) var<uniform> hp: HpParams;

var<workgroup> sh: array<u32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.x;
  let W = (hp.N + 31u) / 32u;
  let rows = 2u * hp.P * W;
  var carry = 0u;
  for (var base: u32 = 0u; base < hp.P; base = base + 256u) {
    let r = base + tid;
    var c = 0u;
    if (r < hp.P) { c = ucsr[rows + 2u * r + 1u]; }
    var v = c;
    for (var off: u32 = 1u; off < 256u; off = off * 2u) {
      sh[tid] = v;
      workgroupBarrier();
      if (tid >= off) { v = v + sh[tid - off]; }
      workgroupBarrier();
    }
    if (r < hp.P) { ucsr[rows + 2u * r] = carry + v - c; }
    sh[tid] = v;
    carry = carry + workgroupUniformLoad(&sh[255]);
    workgroupBarrier(); // everyone has read sh[255] before the next block's scan overwrites it
  }
}

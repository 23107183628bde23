// loss_sparse_urows.wgsl — sparse path: this step's Bernoulli rows as bits (hp-method.md §5.3):
//   u_bits[r·W + w] bit k ⇔ U[r, j = 32w + k] ⇔ hash_uniform(seed, r·N + j) < ρ  (j < N).
// Bindings: 0 u_bits [P·W] rw, 1 hp uniform.
// One thread per word, 256 per workgroup, grid1d.
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts bernoulliRows
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"

@group(0) @binding(0) var<storage, read_write> u_bits: array<u32>;
@group(0) @binding(1) var<uniform> hp: HpParams;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let W = (hp.N + 31u) / 32u;
  let e = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (e >= hp.P * W) { return; }
  let r = e / W;
  let w = e % W;
  var bits = 0u;
  for (var k: u32 = 0u; k < 32u; k = k + 1u) {
    let j = w * 32u + k;
    if (j < hp.N && neg_u(r, j)) { bits = bits | (1u << k); }
  }
  u_bits[e] = bits;
}

// lhp_count.wgsl — mean LHP set size for telemetry (hp-method.md §5.5 step 5): |L_i| = number of the nine
// window slots of coef row i that are > 0 (kept above the row-mean threshold; i itself included when kept),
// averaged over the rows. One workgroup of 256 threads: each thread counts rows tid, tid + 256, …, then a
// fixed-order workgroup sum (bitwise repeatable). Counts are integers, exact in f32 while 9·rows < 2^24.
// Bindings: 0 coef [rows, 9] read, 1 out [4] read_write (slot 0 = mean |L_i|), 2 p uniform.
// Grid: 1 workgroup. reduce_sum from include/wg_reduce.wgsl.
//
// wrapper: core/model/lhp.ts
// reference: core/model/lhp.ts lhpCountRef
// test: tests/model/lhp_count_test.ts

#include "wg_reduce.wgsl"

struct Params { rows: u32, _p0: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> coef: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u; // for wg_reduce.wgsl's reduce_sum

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var c = 0u;
  for (var r: u32 = lid.x; r < p.rows; r = r + 256u) {
    for (var k: u32 = 0u; k < 9u; k = k + 1u) {
      c = c + select(0u, 1u, coef[r * 9u + k] > 0.0);
    }
  }
  let total = reduce_sum(f32(c), lid.x);
  if (lid.x == 0u) {
    out[0] = total / f32(max(p.rows, 1u));
  }
}

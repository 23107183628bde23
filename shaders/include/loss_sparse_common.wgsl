// loss_sparse_common.wgsl — not a kernel: the candidate-list machinery shared by model/loss_sparse_fwd.wgsl
// and loss_sparse_bwd.wgsl (included after hash.wgsl and loss_common.wgsl; it uses their ag_bits, sp_bits, ucsr
// bindings — WGSL module-scope names may be used before their declaration). A workgroup of WG threads owns
// one anchor row i and walks the positives P_ag_i ∪ P_sp_i \ {i} (without those in U[r_i,·] when `drop_u`:
// the grouped kernels loss_sparse_group_*.wgsl handle the random negatives) in rounds of WPR bit-plane
// words: the set bits of a round are compacted, in column order, into jlist (j | ag<<31 | sp<<30 | u<<29)
// through a serial scan of WPR counts — deterministic, no atomics.
//
// fragment: the candidate lists of the sparse HP loss kernels
// reference: core/model/loss_ref.ts hpLossRef
// test: tests/model/loss_test.ts

const WG: u32 = 128u;
const WPR: u32 = 64u;     // words per round → at most 2048 candidates
const CAP: u32 = 2048u;
const J_MASK: u32 = 0x1fffffffu;

var<workgroup> jlist: array<u32, 2048>;
var<workgroup> cnt: array<u32, 64>;
var<workgroup> total: u32;

// One thread (call under tid == 0): exclusive prefix sum of cnt[0..n) in place, in order, and the sum
// into `total` (deterministic, no atomics).
fn scan_counts(n: u32) {
  var run = 0u;
  for (var t: u32 = 0u; t < n; t = t + 1u) {
    let c = cnt[t];
    cnt[t] = run;
    run = run + c;
  }
  total = run;
}

// Fills jlist with the candidates of words [base, base + WPR) of row i; returns their number.
// Call from uniform control flow (it contains barriers).
fn gather_round(i: u32, base: u32, tid: u32, W: u32, drop_u: bool) -> u32 {
  var a = 0u;
  var s = 0u;
  var u = 0u;
  var bits = 0u;
  let w = base + tid;
  workgroupBarrier();
  if (tid < WPR) {
    if (w < W) {
      a = ag_bits[(i - chunk.row_off) * W + w];
      s = sp_bits[(i - chunk.row_off) * W + w];
      u = ucsr[(i % hp.P) * W + w];
      bits = a | s;
      if (drop_u) { bits = bits & ~u; }
      if (w == i / 32u) { bits = bits & ~(1u << (i % 32u)); }
    }
    cnt[tid] = countOneBits(bits);
  }
  workgroupBarrier();
  if (tid == 0u) { scan_counts(WPR); }
  workgroupBarrier();
  if (tid < WPR) {
    var off = cnt[tid];
    var rest = bits;
    while (rest != 0u) {
      let k = firstTrailingBit(rest);
      rest = rest & (rest - 1u);
      jlist[off] = (w * 32u + k) | (((a >> k) & 1u) << 31u) | (((s >> k) & 1u) << 30u) | (((u >> k) & 1u) << 29u);
      off = off + 1u;
    }
  }
  workgroupBarrier();
  return workgroupUniformLoad(&total);
}

// loss_sparse_bwd.wgsl — sparse path, backward (hp-method.md §5.9) for y = z (chunk.which = 0) or z̃ (1), the
// owner's share: dy_i += (1/τ) Σ_j (G_ij + G_ji)·y_j over the terms loss_sparse_group_bwd.wgsl does not produce
// directly (it has already added the anchor side over U[r_i,·] and left contrast partials per slot):
//   positives   j ∈ (P_ag_i ∪ P_sp_i) \ {i} (owners of this chunk): G_ij when j ∉ U[r_i,·], G_ji when
//               i ∉ U[r_j,·] (inside U the group kernel has them); thread per candidate computes the logit
//               and H_ij into hlist, then thread per vec4 of D accumulates H·y_j in list order;
//   contrast    every r with U[r, i] = 1 (all owners): the partial Σ_b G_{b·P+r, i}·y_{b·P+r} from its slot,
//               r in increasing order, anchor tiles in order; slots ≥ cap (overflow of the partials buffer)
//               are recomputed here from the anchors b·P + r of this chunk.
// Deterministic (fixed orders, no atomics). Cost per owner ≈ 4D·|P_i| + D·ρP·⌈B/64⌉ reads.
// Bindings: 0 y [N,D] read (vec4), 1 ag_bits, 2 sp_bits, 3 ucsr read, 4 aux read, 5 dy [N,D] rw (vec4),
//           6 hp uniform, 7 chunk uniform, 8 part read (vec4). One workgroup of WG threads per owner (all N);
//           grid1d(N). D ≤ 4·WG.
//
// wrapper: core/model/loss_sparse.ts
// reference: core/model/loss_ref.ts hpLossRef (gradients)
// test: tests/model/loss_test.ts

#include "hash.wgsl"
#include "loss_common.wgsl"
#include "loss_sparse_common.wgsl"

@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ag_bits: array<u32>;
@group(0) @binding(2) var<storage, read> sp_bits: array<u32>;
@group(0) @binding(3) var<storage, read> ucsr: array<u32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> dy: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> hp: HpParams;
@group(0) @binding(7) var<uniform> chunk: Chunk;
@group(0) @binding(8) var<storage, read> part: array<vec4<f32>>;

var<workgroup> yi: array<vec4<f32>, 128>;
var<workgroup> hlist: array<f32, 2048>;
var<workgroup> overflow: u32;

fn logit(j: u32, dv: u32) -> f32 {
  var d = 0.0;
  for (var t: u32 = 0u; t < dv; t = t + 1u) { d = d + dot(yi[t], y[j * dv + t]); }
  return d * hp.inv_tau;
}

// acc += Σ_k hlist[k]·y_{jlist[k]} for this thread's vec4 column t.
fn accumulate(acc: vec4<f32>, n: u32, t: u32, dv: u32) -> vec4<f32> {
  var a = acc;
  if (t < dv) {
    for (var k: u32 = 0u; k < n; k = k + 1u) {
      let h = hlist[k];
      if (h != 0.0) { a = fma(vec4<f32>(h), y[(jlist[k] & J_MASK) * dv + t], a); }
    }
  }
  return a;
}

fn u_bit(r: u32, i: u32, W: u32) -> bool {
  return ((ucsr[r * W + i / 32u] >> (i % 32u)) & 1u) == 1u;
}

// Slot of owner i in row r's partials (rank of i among U[r,·]'s set bits, after the rows before r).
fn slot_of(r: u32, i: u32, W: u32) -> u32 {
  let w = i / 32u;
  return ucsr[2u * hp.P * W + 2u * r] + ucsr[hp.P * W + r * W + w] +
    countOneBits(ucsr[r * W + w] & ((1u << (i % 32u)) - 1u));
}

// Compacts, in increasing order, the positions r ∈ [base, base + WPR) with U[r, i] = 1 (and, with
// `only_overflow`, slot ≥ cap) into jlist; returns their number. Uniform control flow.
fn gather_positions(i: u32, base: u32, tid: u32, W: u32, only_overflow: bool) -> u32 {
  workgroupBarrier();
  let rr = base + tid;
  if (tid < WPR) {
    var f = rr < hp.P && u_bit(rr, i, W);
    if (f && only_overflow) { f = slot_of(rr, i, W) >= chunk.cap; }
    cnt[tid] = select(0u, 1u, f);
  }
  workgroupBarrier();
  if (tid == 0u) {
    var n = 0u;
    for (var k: u32 = 0u; k < WPR; k = k + 1u) {
      if (cnt[k] != 0u) {
        jlist[n] = base + k;
        n = n + 1u;
      }
    }
    total = n;
  }
  return workgroupUniformLoad(&total);
}

@compute @workgroup_size(128, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wid.x + wid.y * nwg.x;
  if (i >= hp.N) { return; }
  let tid = lid.x;
  let W = (hp.N + 31u) / 32u;
  let dv = hp.D / 4u;
  let lse_slot = 2u + chunk.which;
  let r_i = i % hp.P;
  let lse_i = aux[i * AUX + lse_slot];
  let w_i = aux[i * AUX + 6u];
  let coef_i = aux[i * AUX + 10u];
  let in_chunk = i >= chunk.row_off && i < chunk.row_off + chunk.rows;
  for (var t: u32 = tid; t < dv; t = t + WG) { yi[t] = y[i * dv + t]; }
  if (tid == 0u) { overflow = 0u; }
  var acc = vec4<f32>(0.0);
  // Positives of owners in this chunk.
  if (in_chunk) {
    for (var base: u32 = 0u; base < W; base = base + WPR) {
      let n = gather_round(i, base, tid, W, false);
      for (var k: u32 = tid; k < n; k = k + WG) {
        let e = jlist[k];
        let j = e & J_MASK;
        let ag = (e >> 31u) == 1u;
        let sp = ((e >> 30u) & 1u) == 1u;
        let u_i = ((e >> 29u) & 1u) == 1u; // j ∈ U[r_i,·]: anchor side done by the group kernel
        let u_j = u_bit(j % hp.P, i, W);   // i ∈ U[r_j,·]: contrast side done by the group kernel
        let coef_j = aux[j * AUX + 10u];
        let side_i = !u_i && coef_i > 0.0;
        let side_j = !u_j && coef_j > 0.0;
        var h = 0.0;
        if (side_i || side_j) {
          let m = select(0.0, 1.0, ag) + hp.lambda * select(0.0, 1.0, sp);
          let l = logit(j, dv);
          if (side_i) { h = h + coef_i * (w_i * select(0.0, exp(l - lse_i), ag) - m); }
          if (side_j) { h = h + coef_j * (aux[j * AUX + 6u] * select(0.0, exp(l - aux[j * AUX + lse_slot]), ag) - m); }
        }
        hlist[k] = h * hp.inv_tau;
      }
      workgroupBarrier();
      acc = accumulate(acc, n, tid, dv);
    }
  }
  // Contrast side over the random negatives: the partials of every r with U[r, i] = 1, in r order (each
  // thread walks the owner's transposed bits itself: broadcast reads, no barriers).
  let tiles = (hp.B + 63u) / 64u;
  let wi = i / 32u;
  let below = (1u << (i % 32u)) - 1u;
  let Wp = (hp.P + 31u) / 32u;
  for (var v: u32 = 0u; v < Wp; v = v + 1u) {
    var bits = ucsr[2u * hp.P * W + 2u * hp.P + i * Wp + v];
    while (bits != 0u) {
      let rr = v * 32u + firstTrailingBit(bits);
      bits = bits & (bits - 1u);
      let word = ucsr[rr * W + wi];
      let s = ucsr[2u * hp.P * W + 2u * rr] + ucsr[hp.P * W + rr * W + wi] + countOneBits(word & below);
      if (s >= chunk.cap) {
        if (tid == 0u) { overflow = 1u; }
        continue;
      }
      if (tid < dv) {
        for (var bt: u32 = 0u; bt < tiles; bt = bt + 1u) { acc = acc + part[(bt * chunk.cap + s) * dv + tid]; }
      }
    }
  }
  // Overflowed slots (rare): recompute G_ji for the anchors j = b·P + r of this chunk.
  if (workgroupUniformLoad(&overflow) != 0u) {
    for (var base: u32 = 0u; base < hp.P; base = base + WPR) {
      let n = gather_positions(i, base, tid, W, true);
      for (var k: u32 = 0u; k < n; k = k + 1u) {
        workgroupBarrier();
        let rr = jlist[k];
        for (var b: u32 = tid; b < hp.B; b = b + WG) {
          let j = b * hp.P + rr;
          var h = 0.0;
          let coef_j = aux[j * AUX + 10u];
          if (j != i && j >= chunk.row_off && j < chunk.row_off + chunk.rows && coef_j > 0.0) {
            let rb = (j - chunk.row_off) * W + i / 32u;
            let ag = ((ag_bits[rb] >> (i % 32u)) & 1u) == 1u;
            let sp = ((sp_bits[rb] >> (i % 32u)) & 1u) == 1u;
            let m = select(0.0, 1.0, ag) + hp.lambda * select(0.0, 1.0, sp);
            let l = logit(j, dv);
            h = coef_j * (aux[j * AUX + 6u] * exp(l - aux[j * AUX + lse_slot]) - m) * hp.inv_tau;
          }
          hlist[b] = h;
        }
        workgroupBarrier();
        if (tid < dv) {
          for (var b: u32 = 0u; b < hp.B; b = b + 1u) {
            let h = hlist[b];
            if (h != 0.0) { acc = fma(vec4<f32>(h), y[(b * hp.P + rr) * dv + tid], acc); }
          }
        }
      }
    }
  }
  if (tid < dv) { dy[i * dv + tid] = dy[i * dv + tid] + acc; }
}

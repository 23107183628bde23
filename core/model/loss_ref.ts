/**
 * Float64 CPU references for the hidden-positive loss machinery (hp-method.md §5): thresholds (§5.1),
 * symmetric GHP masks and Bernoulli negatives (§5.2–§5.3), the merged multi-positive objective for GHP and
 * LHP with its analytic gradients (§5.4, §5.7, §5.9), LHP weights and mixing (§5.5) and the consistency
 * regulariser (§5.6). Dense N×N here on purpose: these run on tiny test shapes only and are what the WGSL
 * kernels (shaders/hp_*.wgsl, lhp_*.wgsl) and the PyTorch golden (tests/fixtures/hp/make_golden.py) are
 * checked against.
 * @module
 */
import { hashUniform } from "../rng.ts";

/** Shapes of one HP loss problem. N = B·P rows, row index b·P + y·S + x; P = S². */
export interface HpDims {
  B: number;
  /** Grid side; P = S·S patches per image. */
  S: number;
  /** Backbone feature width (f̂, Pool_ag). */
  Df: number;
  /** Code width (ŝ̄, Pool_sp, z, z̃). */
  D: number;
  /** Pool size. */
  K: number;
}

/** Loss hyper-parameters. */
export interface HpParams {
  tau: number;
  /** Base temperature τ_b (0.07). */
  tauBase?: number;
  /** Fraction of random negatives ρ. */
  rho: number;
}

/** Default τ_b of the official code. */
export const TAU_BASE = 0.07;
/** LHP attention scale σ (hard-coded 28 in the official code). */
export const LHP_SIGMA = 28;

/** R_i = max_k ⟨x_i, pool_k⟩ for x [N, d] and pool [K, d] (§5.1). */
export function thresholdsRef(
  x: ArrayLike<number>,
  pool: ArrayLike<number>,
  N: number,
  d: number,
  K: number,
) {
  const r = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let best = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[i * d + t] * pool[k * d + t];
      if (s > best) best = s;
    }
    r[i] = best;
  }
  return r;
}

/** Gram matrix X·Xᵀ of x [N, d] (float64). */
export function gramRef(x: ArrayLike<number>, N: number, d: number): Float64Array {
  const g = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = i; j < N; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[i * d + t] * x[j * d + t];
      g[i * N + j] = s;
      g[j * N + i] = s;
    }
  }
  return g;
}

/** The masks of one step: P_ag, P_sp (symmetric, j ≠ i) and the Bernoulli row pattern U. */
export interface HpMasks {
  N: number;
  P: number;
  ag: Uint8Array;
  sp: Uint8Array;
  /** U[r, j] for r < P, j < N (§5.3), from hashUniform(seed, r·N + j) < ρ. */
  u: Uint8Array;
  /** Smallest |c − threshold| over all pairs: tests use it to reject inputs whose masks f32 might flip. */
  margin: number;
}

/** Bernoulli negatives U[r, j] = hashUniform(seed, r·N + j) < ρ — the same hash the shaders use. */
export function bernoulliRows(seed: number, P: number, N: number, rho: number): Uint8Array {
  const u = new Uint8Array(P * N);
  for (let r = 0; r < P; r++) {
    for (let j = 0; j < N; j++) {
      u[r * N + j] = hashUniform(seed, r * N + j) < rho ? 1 : 0;
    }
  }
  return u;
}

/** Symmetric GHP masks from f̂ [N, Df], ŝ̄ [N, D] and thresholds (§5.2), strict ">", j ≠ i. */
export function hpMasksRef(
  dims: HpDims,
  fhat: ArrayLike<number>,
  shat: ArrayLike<number>,
  rAg: ArrayLike<number>,
  rSp: ArrayLike<number>,
  seed: number,
  rho: number,
): HpMasks {
  const P = dims.S * dims.S, N = dims.B * P;
  const cAg = gramRef(fhat, N, dims.Df), cSp = gramRef(shat, N, dims.D);
  const ag = new Uint8Array(N * N), sp = new Uint8Array(N * N);
  let margin = Infinity;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      if (i === j) continue;
      const ta = Math.min(rAg[i], rAg[j]), ts = Math.min(rSp[i], rSp[j]);
      ag[i * N + j] = cAg[i * N + j] > ta ? 1 : 0;
      sp[i * N + j] = cSp[i * N + j] > ts ? 1 : 0;
      margin = Math.min(margin, Math.abs(cAg[i * N + j] - ta), Math.abs(cSp[i * N + j] - ts));
    }
  }
  return { N, P, ag, sp, u: bernoulliRows(seed, P, N, rho), margin };
}

/** Per-row quantities of the forward pass (what the GPU writes into its aux tensor). */
export interface HpRowStats {
  lseZ: Float64Array;
  lseZt: Float64Array;
  w: Float64Array;
  nAg: Float64Array;
  nSp: Float64Array;
  nD: Float64Array;
  kept: Uint8Array;
  /** (τ/τ_b)/(2B·M_b) for kept anchors, 0 otherwise. */
  coef: Float64Array;
}

/** Result of {@link hpLossRef}. */
export interface HpLossResult {
  /** (1/(2B)) Σ_b L_b(z). */
  lossGhp: number;
  /** (1/(2B)) Σ_b L_b(z̃). */
  lossLhp: number;
  dz: Float64Array;
  dzt: Float64Array;
  rows: HpRowStats;
}

/**
 * L_HP of §5.7 for y = z and y = z̃ with the same masks, and dL/dz, dL/dz̃ through both the anchor and
 * the contrast side (§5.9). `lambda` weighs the task-specific positives.
 */
export function hpLossRef(
  dims: HpDims,
  params: HpParams,
  masks: HpMasks,
  lambda: number,
  z: ArrayLike<number>,
  zt: ArrayLike<number>,
): HpLossResult {
  const { N, P, ag, sp, u } = masks;
  const { B, D } = dims;
  const tau = params.tau, scale = tau / (params.tauBase ?? TAU_BASE);
  const rows: HpRowStats = {
    lseZ: new Float64Array(N),
    lseZt: new Float64Array(N),
    w: new Float64Array(N),
    nAg: new Float64Array(N),
    nSp: new Float64Array(N),
    nD: new Float64Array(N),
    kept: new Uint8Array(N),
    coef: new Float64Array(N),
  };
  const inD = (i: number, j: number) => i !== j && (ag[i * N + j] === 1 || u[(i % P) * N + j] === 1);
  const mw = (i: number, j: number) => ag[i * N + j] + lambda * sp[i * N + j];
  const logits = (y: ArrayLike<number>) => {
    const g = gramRef(y, N, D);
    for (let k = 0; k < g.length; k++) g[k] /= tau;
    return g;
  };
  const lz = logits(z), lzt = logits(zt);
  const lse = (l: Float64Array, i: number) => {
    let mx = -Infinity;
    for (let j = 0; j < N; j++) if (inD(i, j)) mx = Math.max(mx, l[i * N + j]);
    if (mx === -Infinity) return 0;
    let s = 0;
    for (let j = 0; j < N; j++) if (inD(i, j)) s += Math.exp(l[i * N + j] - mx);
    return mx + Math.log(s);
  };
  const sumZ = new Float64Array(B), sumZt = new Float64Array(B), mb = new Float64Array(B);
  for (let i = 0; i < N; i++) {
    let w = 0, na = 0, ns = 0, nd = 0, sz = 0, szt = 0;
    for (let j = 0; j < N; j++) {
      const m = mw(i, j);
      w += m;
      na += ag[i * N + j];
      ns += sp[i * N + j];
      nd += inD(i, j) ? 1 : 0;
      sz += m * lz[i * N + j];
      szt += m * lzt[i * N + j];
    }
    rows.w[i] = w;
    rows.nAg[i] = na;
    rows.nSp[i] = ns;
    rows.nD[i] = nd;
    rows.lseZ[i] = lse(lz, i);
    rows.lseZt[i] = lse(lzt, i);
    rows.kept[i] = na > 0 ? 1 : 0;
    if (na > 0) {
      const b = Math.floor(i / P);
      mb[b] += w;
      sumZ[b] += sz - w * rows.lseZ[i];
      sumZt[b] += szt - w * rows.lseZt[i];
    }
  }
  let lossGhp = 0, lossLhp = 0;
  for (let b = 0; b < B; b++) {
    if (mb[b] === 0) continue; // empty K_b contributes 0 (the original would produce NaN)
    lossGhp += -scale * sumZ[b] / mb[b] / (2 * B);
    lossLhp += -scale * sumZt[b] / mb[b] / (2 * B);
  }
  for (let i = 0; i < N; i++) {
    const b = Math.floor(i / P);
    rows.coef[i] = rows.kept[i] ? scale / (2 * B * mb[b]) : 0;
  }
  const grad = (y: ArrayLike<number>, l: Float64Array, lseArr: Float64Array) => {
    const g = new Float64Array(N * N); // G_ij
    for (let i = 0; i < N; i++) {
      if (!rows.kept[i]) continue;
      for (let j = 0; j < N; j++) {
        const q = inD(i, j) ? Math.exp(l[i * N + j] - lseArr[i]) : 0;
        g[i * N + j] = rows.coef[i] * (rows.w[i] * q - mw(i, j));
      }
    }
    const dy = new Float64Array(N * D);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        const h = (g[i * N + j] + g[j * N + i]) / tau;
        if (h === 0) continue;
        for (let t = 0; t < D; t++) dy[i * D + t] += h * y[j * D + t];
      }
    }
    return dy;
  };
  return {
    lossGhp,
    lossLhp,
    dz: grad(z, lz, rows.lseZ),
    dzt: grad(zt, lzt, rows.lseZt),
    rows,
  };
}

// ---------------------------------------------------------------------------------------------------
// LHP weights and mixing (§5.5)

/** torch.quantile with linear interpolation on an ascending-sorted array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  const wgt = pos - lo;
  const a = sorted[lo], b = sorted[hi];
  return wgt < 0.5 ? a + wgt * (b - a) : b - (b - a) * (1 - wgt);
}

/** Window slot (0..8) of neighbour offset (dy, dx) ∈ {−1,0,1}²: (dy+1)·3 + (dx+1). */
export function windowSlot(dy: number, dx: number): number {
  return (dy + 1) * 3 + (dx + 1);
}

/**
 * LHP mixing coefficients a_ij/n_i from attention logits A [B, P, P] (row = query): quantile clamp,
 * softmax, ×σ, keep ≥ row mean, 3×3 window incl. the anchor clipped at the border. Returns coef [N, 9]
 * (slot = windowSlot(dy, dx); 0 outside the grid or below the threshold) and `margin` = smallest
 * |a_ij − mean_i| over window entries (tests reject inputs whose decisions f32 could flip).
 */
export function lhpWeightsRef(attn: ArrayLike<number>, B: number, S: number, sigma = LHP_SIGMA) {
  const P = S * S, N = B * P;
  const coef = new Float64Array(N * 9);
  let margin = Infinity;
  const row = new Float64Array(P);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < P; i++) {
      for (let j = 0; j < P; j++) row[j] = attn[(b * P + i) * P + j];
      const sorted = Float64Array.from(row).sort();
      const lo = quantileSorted(sorted, 0.1), hi = quantileSorted(sorted, 0.9);
      let mx = -Infinity;
      for (let j = 0; j < P; j++) {
        row[j] = Math.min(Math.max(row[j], lo), hi);
        mx = Math.max(mx, row[j]);
      }
      let sum = 0;
      for (let j = 0; j < P; j++) sum += Math.exp(row[j] - mx);
      let mean = 0;
      for (let j = 0; j < P; j++) mean += sigma * Math.exp(row[j] - mx) / sum;
      mean /= P;
      const y = Math.floor(i / S), x = i % S;
      const n = (Math.min(y + 1, S - 1) - Math.max(y - 1, 0) + 1) *
        (Math.min(x + 1, S - 1) - Math.max(x - 1, 0) + 1);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= S || xx < 0 || xx >= S) continue;
          const a = sigma * Math.exp(row[yy * S + xx] - mx) / sum;
          margin = Math.min(margin, Math.abs(a - mean));
          if (a >= mean) coef[(b * P + i) * 9 + windowSlot(dy, dx)] = a / n;
        }
      }
    }
  }
  return { coef, margin };
}

function neighbour(i: number, slot: number, S: number): number {
  const P = S * S, b = Math.floor(i / P), r = i % P;
  const y = Math.floor(r / S) + Math.floor(slot / 3) - 1, x = (r % S) + (slot % 3) - 1;
  if (y < 0 || y >= S || x < 0 || x >= S) return -1;
  return b * P + y * S + x;
}

/** s̃_i = Σ_slot coef[i, slot] · s_{nbr(i, slot)} for s [N, C]. */
export function lhpMixRef(coef: ArrayLike<number>, s: ArrayLike<number>, B: number, S: number, C: number) {
  const N = B * S * S, out = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < 9; k++) {
      const j = neighbour(i, k, S);
      if (j < 0) continue;
      for (let c = 0; c < C; c++) out[i * C + c] += coef[i * 9 + k] * s[j * C + c];
    }
  }
  return out;
}

/** Backward of {@link lhpMixRef}: ds_j = Σ_i coef[i, slot(j − i)] · ds̃_i. */
export function lhpMixBackwardRef(
  coef: ArrayLike<number>,
  dmix: ArrayLike<number>,
  B: number,
  S: number,
  C: number,
) {
  const N = B * S * S, ds = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < 9; k++) {
      const j = neighbour(i, k, S);
      if (j < 0) continue;
      for (let c = 0; c < C; c++) ds[j * C + c] += coef[i * 9 + k] * dmix[i * C + c];
    }
  }
  return ds;
}

// ---------------------------------------------------------------------------------------------------
// Consistency regulariser (§5.6)

/** ε added to the difference vector (PyTorch PairwiseDistance). */
export const REG_EPS = 1e-6;

/** L_reg = (1/N) Σ_i ‖z_i − za_i + ε‖₂ (unscaled) and its gradients times `scale` (e.g. α). */
export function consistencyRegRef(
  z: ArrayLike<number>,
  za: ArrayLike<number>,
  N: number,
  D: number,
  scale = 1,
) {
  let loss = 0;
  const dz = new Float64Array(N * D), dza = new Float64Array(N * D);
  for (let i = 0; i < N; i++) {
    let nn = 0;
    for (let t = 0; t < D; t++) nn += (z[i * D + t] - za[i * D + t] + REG_EPS) ** 2;
    const n = Math.sqrt(nn);
    loss += n / N;
    if (n === 0) continue;
    for (let t = 0; t < D; t++) {
      const g = scale * (z[i * D + t] - za[i * D + t] + REG_EPS) / (N * n);
      dz[i * D + t] = g;
      dza[i * D + t] = -g;
    }
  }
  return { loss, dz, dza };
}

/**
 * What the GHP picture shows, computed on the CPU for a few anchors from tensors the trainer reads back
 * (hp-method.md §5.1–§5.4): the anchor's positive weights over the batch, m_ij = 1[j ∈ P_i^ag] + λ·1[j ∈ P_i^sp]
 * with the symmetric rule j ∈ P_i ⇔ c_ij > min(R_i, R_j) (strict, j ≠ i), and its nearest reference-pool
 * member (the one that set R_i). Cost per anchor O(N·(Df + D)), so a picture every K steps is cheap next to a
 * training step; the full masks (O(N²)) are never formed.
 * @module
 */

/** Inputs for {@link ghpAnchorWeights}; rows are L2-normalised, row index b·P + p. */
export interface GhpRowInputs {
  /** N = B·P. */
  N: number;
  /** f̂ [N, Df]: normalised, dropout'd backbone features. */
  fhat: ArrayLike<number>;
  Df: number;
  /** ŝ̄ [N, D]: normalised, dropout'd EMA codes (omit to show task-agnostic positives only). */
  shat?: ArrayLike<number>;
  D?: number;
  /** R^ag [N] and R^sp [N]: the anchor-dependent thresholds. */
  rAg: ArrayLike<number>;
  rSp?: ArrayLike<number>;
  /** λ_t, weight of task-specific positives. */
  lambda: number;
}

function dot(x: ArrayLike<number>, i: number, y: ArrayLike<number>, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += x[i * d + t] * y[j * d + t];
  return s;
}

/** m_ij for anchor `i` over all N patches (0 at j = i): the `positives` of a {@link GhpAnchor}. */
export function ghpAnchorWeights(i: number, x: GhpRowInputs): Float32Array {
  const { N, fhat, Df, shat, D, rAg, rSp, lambda } = x;
  if (!Number.isInteger(i) || i < 0 || i >= N) {
    throw new RangeError(`ghpAnchorWeights: anchor ${i} outside 0..${N - 1}`);
  }
  if (fhat.length !== N * Df) {
    throw new TypeError(`ghpAnchorWeights: fhat has ${fhat.length} values, need N·Df = ${N * Df}`);
  }
  if (rAg.length !== N) throw new TypeError(`ghpAnchorWeights: rAg has ${rAg.length} values, need N = ${N}`);
  const useSp = shat !== undefined && rSp !== undefined && D !== undefined;
  if (useSp && (shat.length !== N * D || rSp.length !== N)) {
    throw new TypeError(
      `ghpAnchorWeights: shat/rSp have ${shat.length}/${rSp.length} values, need ${N * D}/${N}`,
    );
  }
  const m = new Float32Array(N);
  for (let j = 0; j < N; j++) {
    if (j === i) continue;
    let w = dot(fhat, i, fhat, j, Df) > Math.min(rAg[i], rAg[j]) ? 1 : 0;
    if (useSp && dot(shat, i, shat, j, D) > Math.min(rSp[i], rSp[j])) w += lambda;
    m[j] = w;
  }
  return m;
}

/** The pool row closest to x_i (the one that defines R_i), with its cosine similarity. */
export function nearestPoolMember(
  x: ArrayLike<number>,
  i: number,
  pool: ArrayLike<number>,
  K: number,
  d: number,
): { index: number; similarity: number } {
  if (pool.length !== K * d) {
    throw new TypeError(`nearestPoolMember: pool has ${pool.length} values, need K·d = ${K * d}`);
  }
  let index = -1, similarity = -Infinity;
  for (let k = 0; k < K; k++) {
    const s = dot(x, i, pool, k, d);
    if (s > similarity) [index, similarity] = [k, s];
  }
  return { index, similarity };
}

/**
 * Which sets patch j belongs to for anchor `i`, over all N patches: bit 1 = task-agnostic positive
 * (j ∈ P_i^ag), bit 2 = task-specific positive (j ∈ P_i^sp), by the same symmetric rule as
 * {@link ghpAnchorWeights}; task-specific sets are computed even while λ = 0 (the picture shows them, they
 * just weigh nothing yet). The anchor itself is 0.
 */
export function ghpAnchorSets(i: number, x: GhpRowInputs): Uint8Array {
  const { N, shat, D, rSp } = x;
  const m = ghpAnchorWeights(i, { ...x, lambda: 0 }); // validates the inputs; 1 where task-agnostic
  const out = new Uint8Array(N);
  const useSp = shat !== undefined && rSp !== undefined && D !== undefined;
  for (let j = 0; j < N; j++) {
    if (j === i) continue;
    let f = m[j] > 0 ? 1 : 0;
    if (useSp && dot(shat, i, shat, j, D) > Math.min(rSp[i], rSp[j])) f |= 2;
    out[j] = f;
  }
  return out;
}

/**
 * The class of each patch: the most frequent label among its pixels (labels −1 and ≥ `classes` ignored),
 * −1 when at most half of its pixels are labelled. `labels` is [B, res, res] row-major; the result is
 * [B·S²], index b·S² + p.
 */
export function patchLabels(
  labels: ArrayLike<number>,
  B: number,
  res: number,
  S: number,
  classes = 256,
): Int32Array {
  if (labels.length !== B * res * res) {
    throw new TypeError(`patchLabels: ${labels.length} labels for ${B} images of ${res}×${res}`);
  }
  const P = S * S, out = new Int32Array(B * P).fill(-1);
  const counts = new Map<number, number>();
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      const r = Math.floor(p / S), c = p % S;
      const y0 = Math.floor((r * res) / S), y1 = Math.floor(((r + 1) * res) / S);
      const x0 = Math.floor((c * res) / S), x1 = Math.floor(((c + 1) * res) / S);
      counts.clear();
      let labelled = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const l = labels[b * res * res + y * res + x];
          if (l < 0 || l >= classes) continue;
          labelled++;
          counts.set(l, (counts.get(l) ?? 0) + 1);
        }
      }
      if (2 * labelled <= (y1 - y0) * (x1 - x0)) continue;
      let best = -1, bestN = 0;
      for (const [l, n] of counts) if (n > bestN || (n === bestN && l < best)) [best, bestN] = [l, n];
      out[b * P + p] = best;
    }
  }
  return out;
}

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

/**
 * Lloyd's k-means in float32 with Hamerly's bounds: the fit of the k-means baseline (core/eval/kmeans.ts
 * module header, step 2). Each point keeps an upper bound on the distance to its own centroid and a lower
 * bound on the distance to all the others; a point whose bounds cannot cross after the centroids move skips
 * its full scan, so the assignments (and the objective) are exactly Lloyd's. k-means++ seeding, restarts
 * keep the best objective.
 * @module
 */
import { Rng } from "../rng.ts";

/** Options of {@link kmeansF32}. */
export interface KmeansF32Options {
  seed?: number;
  /** Independent restarts; the best objective wins (default 3). */
  restarts?: number;
  /** Maximum Lloyd iterations per restart (default 50). */
  iters?: number;
  /** Stop when the objective improves by less than this fraction (default 1e-4). */
  tol?: number;
  /** Cosine similarity and unit centroids (spherical k-means) instead of Euclidean distance. */
  spherical?: boolean;
}

/** Result of {@link kmeansF32}. */
export interface KmeansF32Result {
  /** [k, d] centroids (unit rows when spherical). */
  centroids: Float32Array;
  /** Σ over points of x·c − ‖c‖²/2 (Euclidean; = (‖x‖² − inertia)/2) or of the cosine (spherical). */
  objective: number;
  assignment: Int32Array;
  /** Lloyd iterations of the kept restart. */
  iterations: number;
  /** Points whose distances to every centroid were computed, over the kept restart's iterations. */
  fullScans: number;
}

/** Dot product of row i of x and row j of c (float32 data, four accumulators). */
function dot(x: Float32Array, a: number, c: Float32Array, b: number, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t = 0;
  for (; t + 3 < d; t += 4) {
    s0 += x[a + t] * c[b + t];
    s1 += x[a + t + 1] * c[b + t + 1];
    s2 += x[a + t + 2] * c[b + t + 2];
    s3 += x[a + t + 3] * c[b + t + 3];
  }
  for (; t < d; t++) s0 += x[a + t] * c[b + t];
  return s0 + s1 + s2 + s3;
}

/**
 * The best and second-best centroid for row `o` of x: j maximising x·c_j − half[j], its value and the
 * runner-up's value. Four centroids per pass over the row, so each x value is loaded once for four
 * products (1.6× faster than one dot product at a time in V8).
 */
function nearest(
  x: Float32Array,
  o: number,
  c: Float32Array,
  half: Float64Array,
  k: number,
  d: number,
  out: { j: number; v: number; v2: number },
): void {
  let bj = 0, bv = -Infinity, bv2 = -Infinity, j = 0;
  const take = (s: number, jj: number) => {
    if (s > bv) bv2 = bv, bv = s, bj = jj;
    else if (s > bv2) bv2 = s;
  };
  for (; j + 3 < k; j += 4) {
    const q0 = j * d, q1 = q0 + d, q2 = q1 + d, q3 = q2 + d;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let t = 0; t < d; t++) {
      const v = x[o + t];
      s0 += v * c[q0 + t];
      s1 += v * c[q1 + t];
      s2 += v * c[q2 + t];
      s3 += v * c[q3 + t];
    }
    take(s0 - half[j], j);
    take(s1 - half[j + 1], j + 1);
    take(s2 - half[j + 2], j + 2);
    take(s3 - half[j + 3], j + 3);
  }
  for (; j < k; j++) take(dot(x, o, c, j * d, d) - half[j], j);
  out.j = bj, out.v = bv, out.v2 = bv2;
}

/**
 * Lloyd's k-means on `n` unit rows of `x` [n, d] in float32, fast enough for the baseline at COCO size:
 * k-means++ seeding on the squared distance 2 − 2·x·c (unit rows), then iterations assigning each point to
 * the centroid maximising x·c − ‖c‖²/2 (= nearest in Euclidean distance) or, `spherical`, x·c with unit
 * centroids; an emptied cluster keeps its centroid. Stops when no assignment changes, the objective gains
 * less than `tol`, or after `iters` iterations.
 *
 * The assignments are Lloyd's, computed with Hamerly's bounds (Hamerly 2010, "Making k-means even faster"):
 * per point an upper bound on the distance to its centroid and a lower bound on the distance to any other,
 * moved by how far the centroids moved; a point whose upper bound is below max(lower bound, half the
 * distance from its centroid to the nearest other centroid) cannot change cluster and is not scanned. The
 * objective is Σ_j S_j·c_j − n_j·‖c_j‖²/2 from the per-cluster sums S_j (no per-point products needed).
 */
export function kmeansF32(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  opts: KmeansF32Options = {},
): KmeansF32Result {
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new RangeError(`kmeansF32: k must be in [1, ${n}], got ${k}`);
  }
  if (x.length !== n * d) throw new TypeError(`kmeansF32: ${x.length} values for ${n}×${d} points`);
  const rng = new Rng(opts.seed ?? 0);
  const restarts = opts.restarts ?? 3, iters = opts.iters ?? 50, tol = opts.tol ?? 1e-4;
  const spherical = opts.spherical === true;
  const xx = new Float64Array(n);
  for (let i = 0; i < n; i++) xx[i] = dot(x, i * d, x, i * d, d);
  let best: KmeansF32Result | null = null;
  for (let r = 0; r < restarts; r++) {
    const c = plusPlusF32(x, n, d, k, rng);
    const res = lloydHamerly(x, xx, n, d, k, c, iters, tol, spherical);
    if (!best || res.objective > best.objective) best = res;
  }
  return best!;
}

/**
 * k-means++ row choice (shared by both k-means): the first row uniformly, then each next row with probability
 * proportional to its squared distance `dist(i, j)` to the nearest row chosen so far (j = the last one chosen);
 * uniformly again when every distance is zero.
 */
export function plusPlusRows(
  n: number,
  k: number,
  rng: Rng,
  dist: (i: number, j: number) => number,
): Int32Array {
  const rows = new Int32Array(k);
  rows[0] = rng.int(n);
  const dmin = new Float64Array(n).fill(Infinity);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = dist(i, rows[j - 1]);
      if (v < dmin[i]) dmin[i] = v;
      total += dmin[i];
    }
    let pick = n - 1;
    if (total > 0) {
      let u = rng.next() * total;
      for (let i = 0; i < n; i++) {
        u -= dmin[i];
        if (u < 0) {
          pick = i;
          break;
        }
      }
    } else pick = rng.int(n);
    rows[j] = pick;
  }
  return rows;
}

/** k-means++ seeding on unit rows (squared distance 2 − 2·x·c). */
function plusPlusF32(x: Float32Array, n: number, d: number, k: number, rng: Rng): Float32Array {
  const rows = plusPlusRows(n, k, rng, (i, r) => Math.max(0, 2 - 2 * dot(x, i * d, x, r * d, d)));
  const c = new Float32Array(k * d);
  rows.forEach((r, j) => c.set(x.subarray(r * d, r * d + d), j * d));
  return c;
}

/** Slack on the bound tests, far above the rounding of the float64 dot products they come from. */
const BOUND_EPS = 1e-9;

/** The Lloyd iterations of {@link kmeansF32} from centroids `c` (updated in place). */
function lloydHamerly(
  x: Float32Array,
  xx: Float64Array,
  n: number,
  d: number,
  k: number,
  c: Float32Array,
  iters: number,
  tol: number,
  spherical: boolean,
): KmeansF32Result {
  const a = new Int32Array(n).fill(-1), sums = new Float64Array(k * d), counts = new Float64Array(k);
  const half = new Float64Array(k), cc = new Float64Array(k), sep = new Float64Array(k);
  const move = new Float64Array(k), old = new Float32Array(k * d);
  const upper = new Float64Array(n), lower = new Float64Array(n);
  const hit = { j: 0, v: 0, v2: 0 };
  // ‖x − c_j‖ from a score s = x·c_j − half[j]: ‖x‖² − 2s, plus ‖c_j‖² when half is 0 (spherical).
  const dist = (i: number, s: number, j: number) =>
    Math.sqrt(Math.max(0, xx[i] - 2 * s + (spherical ? cc[j] : 0)));
  let objective = -Infinity, it = 0, fullScans = 0;
  for (; it < iters; it++) {
    for (let j = 0; j < k; j++) {
      cc[j] = dot(c, j * d, c, j * d, d);
      half[j] = spherical ? 0 : cc[j] / 2;
    }
    // Half the distance from each centroid to its nearest other centroid.
    sep.fill(Infinity);
    for (let j = 0; j < k; j++) {
      for (let q = j + 1; q < k; q++) {
        const e = Math.sqrt(Math.max(0, cc[j] + cc[q] - 2 * dot(c, j * d, c, q * d, d))) / 2;
        if (e < sep[j]) sep[j] = e;
        if (e < sep[q]) sep[q] = e;
      }
    }
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const ai = a[i];
      if (ai >= 0) {
        const m = Math.max(sep[ai], lower[i]) - BOUND_EPS;
        if (upper[i] <= m) continue;
        upper[i] = dist(i, dot(x, i * d, c, ai * d, d) - half[ai], ai);
        if (upper[i] <= m) continue;
      }
      nearest(x, i * d, c, half, k, d, hit);
      fullScans++;
      if (ai !== hit.j) changed++;
      a[i] = hit.j;
      upper[i] = dist(i, hit.v, hit.j);
      // The runner-up's own ‖c‖² differs from the winner's only in spherical mode (both ≈ 1 there).
      lower[i] = k > 1 ? Math.sqrt(Math.max(0, xx[i] - 2 * hit.v2 + (spherical ? 1 : 0))) : Infinity;
    }
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const o = a[i] * d, xi = i * d;
      counts[a[i]]++;
      for (let t = 0; t < d; t++) sums[o + t] += x[xi + t];
    }
    let obj = 0;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += sums[j * d + t] * c[j * d + t];
      obj += s - counts[j] * half[j];
    }
    const converged = changed === 0 || (it > 0 && obj - objective <= tol * Math.abs(obj));
    objective = obj;
    if (converged) break;
    old.set(c);
    for (let j = 0; j < k; j++) {
      if (counts[j] === 0) continue;
      let scale = 1 / counts[j];
      if (spherical) {
        let s2 = 0;
        for (let t = 0; t < d; t++) s2 += sums[j * d + t] ** 2;
        if (s2 === 0) continue;
        scale = 1 / Math.sqrt(s2);
      }
      for (let t = 0; t < d; t++) c[j * d + t] = sums[j * d + t] * scale;
    }
    // Bounds follow the centroids: the own one moved by move[a], any other by at most the largest move.
    let m1 = 0, m2 = 0, jm = -1;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (c[j * d + t] - old[j * d + t]) ** 2;
      move[j] = Math.sqrt(s);
      if (move[j] > m1) m2 = m1, m1 = move[j], jm = j;
      else if (move[j] > m2) m2 = move[j];
    }
    for (let i = 0; i < n; i++) {
      upper[i] += move[a[i]];
      lower[i] -= a[i] === jm ? m2 : m1;
    }
  }
  return { centroids: c, objective, assignment: a, iterations: Math.min(it + 1, iters), fullScans };
}

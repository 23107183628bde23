/**
 * The k-means baseline of the embedded default (issue 5 §7): k-means with n_clusters = n_classes on the
 * raw, L2-normalised backbone patch features of the validation images, scored with the same Hungarian
 * protocol as HP's cluster probe (hp-method.md §8.2, §8.4).
 *
 * Protocol, chosen to mirror how the cluster probe is evaluated:
 * 1. fit: Lloyd's k-means (k-means++ seeding from a seeded {@link Rng}, several restarts, lowest inertia
 *    kept) on every validation patch feature f̂ = normalize(f) (float64 arithmetic);
 * 2. predict: per image, the [P, C] feature map is bilinearly upsampled (align_corners = false, as
 *    §8.1) to the label size, each pixel is L2-normalised and takes its nearest centroid;
 * 3. score: confusion matrix + Hungarian matching over the whole split (core/eval/metrics.ts).
 * Runs on the CPU: at the embedded default's sizes (a few thousand patches × 128 channels) it takes well
 * under a second.
 * @module
 */
import { Rng } from "../rng.ts";
import { Confusion, scoreConfusion } from "../eval/metrics.ts";

/** Options of {@link kmeans}. */
export interface KmeansOptions {
  /** Seed of the k-means++ draws (default 0). */
  seed?: number;
  /** Independent restarts; the lowest inertia wins (default 5). */
  restarts?: number;
  /** Maximum Lloyd iterations per restart (default 100). */
  iters?: number;
}

/** Result of {@link kmeans}. */
export interface KmeansResult {
  /** [k, d] centroids, row-major. */
  centroids: Float64Array;
  /** Sum of squared distances of every point to its centroid. */
  inertia: number;
  /** Cluster of every point. */
  assignment: Int32Array;
}

/**
 * Lloyd's k-means on `n` points of dimension `d` (row-major `x`).
 * @param x [n, d] points
 * @param k number of clusters (≤ n)
 * @returns centroids, inertia and assignment of the best restart
 */
export function kmeans(
  x: ArrayLike<number>,
  n: number,
  d: number,
  k: number,
  opts: KmeansOptions = {},
): KmeansResult {
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new RangeError(`kmeans: k must be in [1, ${n}], got ${k}`);
  }
  if (x.length !== n * d) throw new TypeError(`kmeans: ${x.length} values for ${n}×${d} points`);
  const rng = new Rng(opts.seed ?? 0);
  const restarts = opts.restarts ?? 5, iters = opts.iters ?? 100;
  const px = Float64Array.from(x);
  let best: KmeansResult | null = null;
  for (let r = 0; r < restarts; r++) {
    const res = lloyd(px, n, d, k, plusPlus(px, n, d, k, rng), iters);
    if (!best || res.inertia < best.inertia) best = res;
  }
  return best!;
}

/** Squared distance between row i of x and row j of c. */
function dist2(x: Float64Array, i: number, c: Float64Array, j: number, d: number): number {
  let s = 0;
  const a = i * d, b = j * d;
  for (let t = 0; t < d; t++) {
    const v = x[a + t] - c[b + t];
    s += v * v;
  }
  return s;
}

/** k-means++ seeding. */
function plusPlus(x: Float64Array, n: number, d: number, k: number, rng: Rng): Float64Array {
  const c = new Float64Array(k * d);
  const first = rng.int(n);
  c.set(x.subarray(first * d, first * d + d), 0);
  const dmin = new Float64Array(n).fill(Infinity);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      dmin[i] = Math.min(dmin[i], dist2(x, i, c, j - 1, d));
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
    c.set(x.subarray(pick * d, pick * d + d), j * d);
  }
  return c;
}

function lloyd(
  x: Float64Array,
  n: number,
  d: number,
  k: number,
  c: Float64Array,
  iters: number,
): KmeansResult {
  const a = new Int32Array(n).fill(-1);
  const sums = new Float64Array(k * d), counts = new Float64Array(k);
  let inertia = 0;
  for (let it = 0; it < iters; it++) {
    let changed = 0;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let bj = 0, bd = Infinity;
      for (let j = 0; j < k; j++) {
        const v = dist2(x, i, c, j, d);
        if (v < bd) {
          bd = v;
          bj = j;
        }
      }
      if (a[i] !== bj) changed++;
      a[i] = bj;
      inertia += bd;
    }
    if (changed === 0) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const j = a[i];
      counts[j]++;
      for (let t = 0; t < d; t++) sums[j * d + t] += x[i * d + t];
    }
    for (let j = 0; j < k; j++) {
      // An emptied cluster keeps its centroid (rare with k-means++ seeding).
      if (counts[j] === 0) continue;
      for (let t = 0; t < d; t++) c[j * d + t] = sums[j * d + t] / counts[j];
    }
  }
  return { centroids: c, inertia, assignment: a };
}

/** L2-normalises every row of a [n, d] array in place (x / max(‖x‖, 1e-12), as F.normalize). */
export function normalizeRows(x: Float32Array | Float64Array, d: number): void {
  for (let i = 0; i < x.length; i += d) {
    let s = 0;
    for (let t = 0; t < d; t++) s += x[i + t] * x[i + t];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let t = 0; t < d; t++) x[i + t] *= inv;
  }
}

/**
 * Bilinear (align_corners = false) upsampling of one [g, g, c] feature map to [h, w] pixels, calling
 * `visit(pixel, vector)` with a reused Float64Array per pixel (no [h, w, c] buffer is materialised).
 */
export function forEachUpsampled(
  map: ArrayLike<number>,
  g: number,
  c: number,
  h: number,
  w: number,
  visit: (pixel: number, v: Float64Array) => void,
): void {
  const v = new Float64Array(c);
  const src = (o: number, out: number) => {
    const s = Math.max((o + 0.5) * (g / out) - 0.5, 0);
    const i0 = Math.min(Math.floor(s), g - 1);
    const i1 = Math.min(i0 + 1, g - 1);
    return [i0, i1, s - i0] as const;
  };
  for (let y = 0; y < h; y++) {
    const [y0, y1, ty] = src(y, h);
    for (let x = 0; x < w; x++) {
      const [x0, x1, tx] = src(x, w);
      const w00 = (1 - ty) * (1 - tx), w01 = (1 - ty) * tx, w10 = ty * (1 - tx), w11 = ty * tx;
      const a = (y0 * g + x0) * c, b = (y0 * g + x1) * c, e = (y1 * g + x0) * c, f = (y1 * g + x1) * c;
      for (let t = 0; t < c; t++) {
        v[t] = w00 * map[a + t] + w01 * map[b + t] + w10 * map[e + t] + w11 * map[f + t];
      }
      visit(y * w + x, v);
    }
  }
}

/** Inputs of {@link kmeansBaseline}: raw backbone features and labels of the validation images. */
export interface BaselineInput {
  /** [B, P, C] raw patch features (P = g·g), row-major; not modified. */
  features: Float32Array;
  /** [B, H, W] ground-truth labels (−1 = ignore). */
  labels: Int32Array;
  batch: number;
  grid: number;
  channels: number;
  height: number;
  width: number;
  nClasses: number;
}

/** Result of {@link kmeansBaseline}, in percent. */
export interface BaselineScores {
  kmeans_acc: number;
  kmeans_miou: number;
}

/**
 * The k-means baseline (module header): fit on normalised patch features, predict per upsampled pixel,
 * score with the Hungarian protocol.
 */
export function kmeansBaseline(input: BaselineInput, opts: KmeansOptions = {}): BaselineScores {
  const { batch, grid, channels: c, height: h, width: w, nClasses } = input;
  const P = grid * grid;
  if (input.features.length !== batch * P * c) {
    throw new TypeError(`kmeansBaseline: ${input.features.length} feature values for [${batch}, ${P}, ${c}]`);
  }
  if (input.labels.length !== batch * h * w) {
    throw new TypeError(`kmeansBaseline: ${input.labels.length} labels for [${batch}, ${h}, ${w}]`);
  }
  const f = Float64Array.from(input.features);
  normalizeRows(f, c);
  const { centroids } = kmeans(f, batch * P, c, nClasses, opts);
  const conf = new Confusion(nClasses);
  const pred = new Int32Array(h * w);
  for (let b = 0; b < batch; b++) {
    forEachUpsampled(f.subarray(b * P * c, (b + 1) * P * c), grid, c, h, w, (px, v) => {
      normalizeRows(v, c);
      let bj = 0, bd = Infinity;
      for (let j = 0; j < nClasses; j++) {
        let s = 0;
        for (let t = 0; t < c; t++) {
          const e = v[t] - centroids[j * c + t];
          s += e * e;
        }
        if (s < bd) {
          bd = s;
          bj = j;
        }
      }
      pred[px] = bj;
    });
    conf.add(pred, input.labels.subarray(b * h * w, (b + 1) * h * w));
  }
  const s = scoreConfusion(conf.counts, nClasses, "cluster");
  return { kmeans_acc: s.acc, kmeans_miou: s.miou };
}

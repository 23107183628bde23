/**
 * k-means for the trainer: Lloyd's k-means (float64, {@link kmeans}) that seeds the cluster probe, and the
 * k-means baseline of every run's final line (README "The embedded default"), bounded at COCO size.
 *
 * The baseline: k-means with n_clusters = n_classes on the L2-normalised raw backbone patch features f̂ of
 * the validation images, scored with the same global Hungarian protocol as HP's cluster probe (hp-method.md
 * §8.2, §8.4):
 * 1. sample: a fixed-seed subsample of the validation patches — every patch when there are at most
 *    {@link BASELINE_MAX_POINTS}, else up to {@link BASELINE_MAX_IMAGES} images drawn by the seed and the
 *    same number of patches drawn from each ({@link baselineSample});
 * 2. fit: Lloyd's k-means on those f̂ in float32 (k-means++ seeding, at most 50 iterations, Hamerly's bounds
 *    skip the points that cannot move; kmeansF32 in ./kmeans_f32.ts) with {@link baselineRestarts} restarts: three
 *    while they cost no more than one run over the largest sample, else one (scikit-learn's n_init="auto");
 * 3. predict and score on the GPU in the final evaluation pass (core/train/validation.ts): every pixel's
 *    bilinearly upsampled f̂ goes to its nearest centroid (argmax of f̂·c − ‖c‖²/2, which is linear in f̂, so
 *    per-patch scores are upsampled: the linear-probe path of core/eval/evaluate.ts), one global Hungarian
 *    matching over the split.
 * At COCO-Stuff validation size (2,175 images × 1,600 patches × 384 channels) this reads 32,768 patches
 * instead of 3.5 million and fits in well under two minutes on two CPU cores (`deno task bench kmeans`,
 * BENCHMARKS.md); {@link kmeansBaselineCpu} is the float64 CPU statement of steps 2–3 for tests.
 * @module
 */
import { Rng } from "../rng.ts";
import { Confusion, scoreConfusion } from "./metrics.ts";
import { kmeansF32, type KmeansF32Options, plusPlusRows } from "./kmeans_f32.ts";

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
  const rows = plusPlusRows(n, k, rng, (i, r) => dist2(x, i, x, r, d));
  const c = new Float64Array(k * d);
  rows.forEach((r, j) => c.set(x.subarray(r * d, r * d + d), j * d));
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

/** Patches the baseline fits on at most (bounds the fit at COCO validation size). */
export const BASELINE_MAX_POINTS = 32_768;
/**
 * Restarts of the baseline's fit on `points` sampled patches: 3 while three runs cost no more than one run
 * over {@link BASELINE_MAX_POINTS} patches (small validation splits), else 1 — which bounds the fit at COCO
 * size (BENCHMARKS.md "k-means baseline").
 */
export function baselineRestarts(points: number): number {
  return 3 * points <= BASELINE_MAX_POINTS ? 3 : 1;
}

/** Images the baseline draws its patches from when it subsamples. */
export const BASELINE_MAX_IMAGES = 256;

/** Which validation images and which of their patches the baseline fits on. */
export interface BaselineSample {
  /** Dataset indices, ascending. */
  images: number[];
  /** Per image (same order): the sampled patch indices, ascending; null = every patch. */
  patches: (Int32Array | null)[];
  /** Total sampled patches. */
  points: number;
}

/**
 * The fixed-seed subsample of {@link BaselineSample}: every patch of every image when that is at most
 * `maxPoints`, else `min(images, maxImages)` images drawn without replacement and ⌈maxPoints / images⌉
 * patches (at most P) drawn without replacement from each.
 */
export function baselineSample(
  images: number,
  P: number,
  seed: number,
  maxPoints = BASELINE_MAX_POINTS,
  maxImages = BASELINE_MAX_IMAGES,
): BaselineSample {
  if (images * P <= maxPoints) {
    return {
      images: Array.from({ length: images }, (_, i) => i),
      patches: new Array(images).fill(null),
      points: images * P,
    };
  }
  const rng = new Rng(seed ^ 0x6b6d6e73);
  const all = Array.from({ length: images }, (_, i) => i);
  rng.shuffle(all);
  const chosen = all.slice(0, Math.min(images, maxImages)).sort((a, b) => a - b);
  const per = Math.min(P, Math.ceil(maxPoints / chosen.length));
  const patches = chosen.map(() => {
    if (per === P) return null;
    const idx = Array.from({ length: P }, (_, i) => i);
    // Partial Fisher–Yates: the first `per` entries are a uniform draw without replacement.
    for (let i = 0; i < per; i++) {
      const j = i + rng.int(P - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return Int32Array.from(idx.slice(0, per)).sort();
  });
  return { images: chosen, patches, points: chosen.length * per };
}

/** Inputs of {@link kmeansBaselineCpu}: raw backbone features and labels of the validation images. */
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

/** Result of {@link kmeansBaselineCpu}, in percent. */
export interface BaselineScores {
  kmeans_acc: number;
  kmeans_miou: number;
}

/**
 * The whole baseline on the CPU in float64 (module header; every patch is used): fit on f̂, then per pixel
 * the cosine of the upsampled f̂ with each centroid, argmax, Hungarian scoring. The reference the GPU path
 * of core/train/validation.ts is tested against.
 */
export function kmeansBaselineCpu(
  input: BaselineInput,
  opts: KmeansF32Options = {},
  /** Score these centroids [n, C] instead of fitting. */
  given?: Float32Array,
): BaselineScores {
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
  const centroids = given ?? kmeansF32(Float32Array.from(f), batch * P, c, nClasses, opts).centroids;
  const half = Array.from({ length: nClasses }, (_, j) => {
    let s = 0;
    for (let t = 0; t < c; t++) s += centroids[j * c + t] ** 2;
    return s / 2;
  });
  const conf = new Confusion(nClasses);
  const pred = new Int32Array(h * w);
  for (let b = 0; b < batch; b++) {
    forEachUpsampled(f.subarray(b * P * c, (b + 1) * P * c), grid, c, h, w, (px, v) => {
      let bj = 0, bv = -Infinity;
      for (let j = 0; j < nClasses; j++) {
        let s = -half[j];
        for (let t = 0; t < c; t++) s += v[t] * centroids[j * c + t];
        if (s > bv) {
          bv = s;
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

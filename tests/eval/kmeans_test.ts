/**
 * Tests of k-means and the k-means baseline (core/eval/kmeans.ts, core/eval/kmeans_f32.ts): recovery of separated clusters,
 * determinism, the float32 Lloyd against the float64 one, spherical mode, the fixed-seed subsample, the
 * bilinear upsampling rule (align_corners = false) and the Hungarian scoring of the whole protocol.
 * CPU only (the GPU path is tests/eval/kmeans_baseline_test.ts).
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  BASELINE_MAX_IMAGES,
  BASELINE_MAX_POINTS,
  baselineSample,
  forEachUpsampled,
  kmeans,
  kmeansBaselineCpu as kmeansBaseline,
  normalizeRows,
} from "../../core/eval/kmeans.ts";
import { kmeansF32 } from "../../core/eval/kmeans_f32.ts";
import { Rng } from "../../core/rng.ts";

function blobs(seed: number, perCluster: number, centres: number[][], spread: number) {
  const rng = new Rng(seed), d = centres[0].length;
  const x: number[] = [], truth: number[] = [];
  centres.forEach((c, k) => {
    for (let i = 0; i < perCluster; i++) {
      for (let t = 0; t < d; t++) x.push(c[t] + spread * rng.normal());
      truth.push(k);
    }
  });
  return { x: Float64Array.from(x), truth, n: truth.length, d };
}

Deno.test("kmeans() recovers three separated blobs up to a permutation", () => {
  const { x, truth, n, d } = blobs(1, 40, [[0, 0, 0], [5, 0, 0], [0, 5, 5]], 0.3);
  const r = kmeans(x, n, d, 3, { seed: 7, restarts: 3 });
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const k = r.assignment[i];
    if (!map.has(k)) map.set(k, truth[i]);
    assertEquals(map.get(k), truth[i], `point ${i} is in cluster ${k} with points of another blob`);
  }
  assertEquals(map.size, 3);
  // Inertia equals the recomputed sum of squared distances to the returned centroids.
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) s += (x[i * d + t] - r.centroids[r.assignment[i] * d + t]) ** 2;
  }
  assert(Math.abs(s - r.inertia) < 1e-9 * Math.max(1, s), `inertia ${r.inertia} vs recomputed ${s}`);
});

Deno.test("kmeans() is deterministic for a seed and keeps the best restart", () => {
  const { x, n, d } = blobs(2, 30, [[0, 0], [1, 1], [2, 0], [3, 1]], 0.6);
  const a = kmeans(x, n, d, 4, { seed: 3, restarts: 4 });
  const b = kmeans(x, n, d, 4, { seed: 3, restarts: 4 });
  assertEquals(Array.from(a.centroids), Array.from(b.centroids));
  const one = kmeans(x, n, d, 4, { seed: 3, restarts: 1 });
  assert(a.inertia <= one.inertia + 1e-12, `4 restarts (${a.inertia}) worse than 1 (${one.inertia})`);
});

Deno.test("forEachUpsampled() follows bilinear align_corners=false with border clamping", () => {
  // 2×2 map, one channel, to 4×4: source coordinates −0.25→0, 0.25, 0.75, 1.25→1 on each axis.
  const map = [1, 2, 3, 4];
  const out = new Float64Array(16);
  forEachUpsampled(map, 2, 1, 4, 4, (p, v) => out[p] = v[0]);
  const w = [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]];
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      let e = 0;
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) e += w[y][i] * w[x][j] * map[i * 2 + j];
      assert(Math.abs(out[y * 4 + x] - e) < 1e-12, `pixel (${y}, ${x}): ${out[y * 4 + x]} vs ${e}`);
    }
  }
});

Deno.test("kmeansBaseline() scores 100 on features that encode the class and less on mixed ones", () => {
  // 3 images, 2×2 patch grid of 4×4-pixel patches, 3 classes; patch feature = one-hot(class) (+ noise).
  const B = 3, g = 2, ps = 4, H = g * ps, n = 3, C = 5;
  const rng = new Rng(5);
  const cls = Array.from({ length: B * g * g }, () => rng.int(n));
  cls[0] = 0, cls[1] = 1, cls[2] = 2; // every class present
  const features = new Float32Array(B * g * g * C), labels = new Int32Array(B * H * H);
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < g * g; p++) {
      const k = cls[b * g * g + p];
      features[(b * g * g + p) * C + k] = 1;
      features[(b * g * g + p) * C + 3] = 0.01 * rng.normal();
      const py = Math.floor(p / g), px = p % g;
      for (let y = 0; y < ps; y++) {
        for (let x = 0; x < ps; x++) labels[b * H * H + (py * ps + y) * H + px * ps + x] = k;
      }
    }
  }
  // Bilinear upsampling blurs patch borders, so score only the pixels away from them (others −1).
  const inner = labels.map((v, i) => {
    const y = Math.floor((i % (H * H)) / H) % ps, x = (i % H) % ps;
    return y >= 1 && y <= 2 && x >= 1 && x <= 2 ? v : -1;
  });
  const r = kmeansBaseline({
    features,
    labels: inner,
    batch: B,
    grid: g,
    channels: C,
    height: H,
    width: H,
    nClasses: n,
  });
  assertEquals(Math.round(r.kmeans_miou * 1e6) / 1e6, 100);
  assertEquals(Math.round(r.kmeans_acc * 1e6) / 1e6, 100);
  // Scrambled features (independent of the class) cannot reach 100.
  const noise = features.map(() => rng.normal());
  const bad = kmeansBaseline({
    features: noise,
    labels: inner,
    batch: B,
    grid: g,
    channels: C,
    height: H,
    width: H,
    nClasses: n,
  });
  assert(bad.kmeans_miou < 90, `random features scored ${bad.kmeans_miou}`);
});

/** Unit-norm blobs around `k` random unit centres in d dimensions. */
function unitBlobs(seed: number, k: number, per: number, d: number, spread: number) {
  const b = blobs(
    seed,
    per,
    Array.from({ length: k }, (_, c) => {
      const r = new Rng(seed * 31 + c);
      return Array.from({ length: d }, () => r.normal());
    }),
    spread,
  );
  normalizeRows(b.x, d);
  return b;
}

Deno.test("kmeansF32() matches the float64 kmeans() on unit rows (same draws, same assignments)", () => {
  const { x, n, d } = unitBlobs(3, 5, 60, 16, 0.6);
  const ref = kmeans(x, n, d, 5, { seed: 11, restarts: 3, iters: 100 });
  const got = kmeansF32(Float32Array.from(x), n, d, 5, { seed: 11, restarts: 3, iters: 100, tol: 0 });
  assertEquals(Array.from(got.assignment), Array.from(ref.assignment));
  for (let i = 0; i < ref.centroids.length; i++) {
    assert(Math.abs(got.centroids[i] - ref.centroids[i]) < 1e-5, `centroid value ${i}`);
  }
  // objective = Σ x·c − ‖c‖²/2 = (Σ‖x‖² − inertia) / 2 with ‖x‖ = 1.
  assert(
    Math.abs(got.objective - (n - ref.inertia) / 2) < 1e-3 * n,
    `${got.objective} vs ${(n - ref.inertia) / 2}`,
  );
});

Deno.test("kmeansF32()'s bounds skip most points yet give Lloyd's float64 assignments over many iterations", () => {
  const { x, n, d } = unitBlobs(9, 12, 250, 24, 0.9);
  const ref = kmeans(x, n, d, 12, { seed: 5, restarts: 1, iters: 300 });
  const got = kmeansF32(Float32Array.from(x), n, d, 12, { seed: 5, restarts: 1, iters: 300, tol: 0 });
  assertEquals(Array.from(got.assignment), Array.from(ref.assignment));
  assert(got.iterations > 5, `${got.iterations} iterations: too few to exercise the bounds`);
  // Every point is scanned in the first iteration; afterwards the bounds must spare most of them.
  assert(got.fullScans < 0.5 * n * got.iterations, `${got.fullScans} full scans for ${n}×${got.iterations}`);
});

Deno.test("kmeansF32() spherical mode keeps unit centroids and maximises the summed cosine", () => {
  const { x, n, d, truth } = unitBlobs(4, 3, 50, 8, 0.3);
  const r = kmeansF32(Float32Array.from(x), n, d, 3, { seed: 2, spherical: true });
  for (let j = 0; j < 3; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += r.centroids[j * d + t] ** 2;
    assert(Math.abs(Math.sqrt(s) - 1) < 1e-6, `centroid ${j} norm ${Math.sqrt(s)}`);
  }
  let cos = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) cos += x[i * d + t] * r.centroids[r.assignment[i] * d + t];
  }
  assert(Math.abs(cos - r.objective) < 1e-3, `${cos} vs ${r.objective}`);
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) map.set(r.assignment[i], map.get(r.assignment[i]) ?? truth[i]);
  for (let i = 0; i < n; i++) assertEquals(map.get(r.assignment[i]), truth[i], `point ${i}`);
});

Deno.test("baselineSample(): every patch when few, else a fixed-seed subsample without repeats", () => {
  const all = baselineSample(60, 64, 0);
  assertEquals(all.points, 3840);
  assertEquals(all.images, Array.from({ length: 60 }, (_, i) => i));
  assert(all.patches.every((p) => p === null));
  // COCO-Stuff validation at 320 px with patch 8: 2,175 images × 1,600 patches.
  const coco = baselineSample(2175, 1600, 0);
  assertEquals(coco.images.length, BASELINE_MAX_IMAGES);
  assertEquals(coco.points, BASELINE_MAX_POINTS);
  assertEquals(coco.images, [...new Set(coco.images)].sort((a, b) => a - b), "distinct, ascending");
  assert(coco.images.every((i) => i >= 0 && i < 2175));
  for (const p of coco.patches) {
    assert(p !== null && p.length === BASELINE_MAX_POINTS / BASELINE_MAX_IMAGES);
    assert(p.every((v, i) => v >= 0 && v < 1600 && (i === 0 || v > p[i - 1])), "distinct, ascending");
  }
  assertEquals(baselineSample(2175, 1600, 0), coco, "deterministic in the seed");
  assert(JSON.stringify(baselineSample(2175, 1600, 1).images) !== JSON.stringify(coco.images));
  // Few images of many patches: every image, ⌈max / images⌉ patches each.
  const few = baselineSample(10, 10000, 0);
  assertEquals([few.images.length, few.points], [10, 10 * Math.ceil(BASELINE_MAX_POINTS / 10)]);
});

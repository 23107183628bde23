/**
 * `deno task bench kmeans [--json] [--quick]`: the k-means baseline (core/eval/kmeans.ts) at COCO-Stuff
 * validation size — 2,175 images × 1,600 patches (320 px, patch 8) × 384 channels (ViT-S), 27 classes —
 * on clustered synthetic features (27 random unit directions plus Gaussian noise), everything the baseline
 * adds to a run except the backbone forwards (which are shared with the evaluation):
 * - sample: the fixed-seed subsample of patches the fit uses (baselineSample);
 * - fit: Lloyd's k-means in float32 on those patches (kmeansF32 with baselineRestarts: one k-means++ run at
 *   this size, ≤ 50 iterations, Hamerly's bounds) on one core;
 * - score: the final evaluation pass's extra work, per 16-image batch: the backbone features normalised to
 *   f̂, scored against the centroids by the linear slot, upsampled to 320×320 with the confusion
 *   (core/eval/evaluate.ts Predictor on the GPU), for every batch of the split.
 * `--quick`: 64 images × 400 patches × 64 channels.
 */
import type { BenchOptions } from "./suite.ts";
import { openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { type EvalModel, Predictor } from "../eval/evaluate.ts";
import { baselineRestarts, baselineSample, normalizeRows } from "../eval/kmeans.ts";
import { kmeansF32 } from "../eval/kmeans_f32.ts";
import { nearestCentroid } from "../train/validation.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { prepareL2Normalize } from "../kernels/l2norm.ts";
import { Rng } from "../rng.ts";

/** Feature row of a patch: one of `k` unit directions (its "class") plus noise, deterministic per patch. */
function featureRows(
  out: Float32Array,
  rows: number,
  C: number,
  dirs: Float32Array,
  k: number,
  seed: number,
) {
  const rng = new Rng(seed);
  for (let r = 0; r < rows; r++) {
    const c = rng.int(k);
    for (let t = 0; t < C; t++) out[r * C + t] = dirs[c * C + t] + 0.35 * rng.normal();
  }
  normalizeRows(out.subarray(0, rows * C), C);
}

export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const images = opts.quick ? 64 : 2175, P = opts.quick ? 400 : 1600, C = opts.quick ? 64 : 384, n = 27;
  const res = opts.quick ? 160 : 320, B = 16, grid = Math.round(Math.sqrt(P));
  const rng = new Rng(1);
  const dirs = new Float32Array(n * C).map(() => rng.normal());
  normalizeRows(dirs, C);

  const t0 = performance.now();
  const sample = baselineSample(images, P, 0);
  const x = new Float32Array(sample.points * C);
  const perImage = sample.points / sample.images.length;
  for (let i = 0; i < sample.images.length; i++) {
    featureRows(x.subarray(i * perImage * C), perImage, C, dirs, n, sample.images[i]);
  }
  const sampleMs = performance.now() - t0;
  const t1 = performance.now();
  const fit = kmeansF32(x, sample.points, C, n, { seed: 0, restarts: baselineRestarts(sample.points) });
  const fitMs = performance.now() - t1;

  const gpu = await openGpu({ announce: !opts.json });
  const arena = new BufferArena(gpu, "kmeans-bench");
  let scoreMs = 0;
  try {
    // As the final pass does it (core/train/validation.ts): the backbone's features are normalised into f̂ on
    // the GPU, then scored by the linear slot against the centroids, upsampled, counted. Four distinct
    // batches of raw features live on the GPU and are cycled (in a run they come from the backbone).
    const code = arena.tensor([B * P, C], "f32", "bench-fhat");
    const raws = Array.from({ length: 4 }, (_, k) => {
      const f = new Float32Array(B * P * C);
      featureRows(f, B * P, C, dirs, n, 1000 + k);
      return arena.upload(f, [B * P, C], "f32", `bench-features-${k}`);
    });
    const norms = await Promise.all(
      raws.map((x) => prepareL2Normalize(gpu, arena, B * P, C, { x, y: code })),
    );
    const labels = Array.from(
      { length: 4 },
      (_, k) => new Int32Array(B * res * res).map((_, i) => (i * 7 + k) % (n + 1) - 1),
    );
    const model: EvalModel = { code, D: C, Sh: grid, Sw: grid, encode: () => {} };
    const pred = await Predictor.create(gpu, arena, model, nearestCentroid(fit.centroids, n), {
      B,
      H: res,
      W: res,
      n,
      linearOnly: true,
    });
    const nb = Math.ceil(images / B);
    const warm = new StepRecorder(gpu, "warm-up");
    warm.dispatch(norms[0]);
    pred.record(warm, labels[0]);
    warm.submit();
    await pred.read({ predictions: false, confusion: true });
    const t2 = performance.now();
    for (let b = 0; b < nb; b++) {
      const rec = new StepRecorder(gpu, "kmeans-score");
      rec.dispatch(norms[b % 4]);
      pred.record(rec, labels[b % 4]);
      rec.submit();
      await pred.read({ predictions: false, confusion: true });
    }
    scoreMs = performance.now() - t2;
  } finally {
    arena.destroyAll();
    gpu.destroy();
  }
  const result = {
    adapter: gpu.description,
    software: gpu.isSoftware,
    size: { images, patches: P, channels: C, classes: n, evalRes: res, batch: B },
    sampledPatches: sample.points,
    sampledImages: sample.images.length,
    iterations: fit.iterations,
    restarts: baselineRestarts(sample.points),
    fullScans: fit.fullScans,
    sampleSec: Math.round(sampleMs) / 1000,
    fitSec: Math.round(fitMs) / 1000,
    scoreSec: Math.round(scoreMs) / 1000,
    totalSec: Math.round(sampleMs + fitMs + scoreMs) / 1000,
  };
  if (!opts.json) {
    console.log(
      `k-means baseline at ${images} images × ${P} patches × ${C}: fit ${result.fitSec} s on ` +
        `${sample.points} patches (${fit.iterations} iterations, ${fit.fullScans} full point scans), scoring ` +
        `${result.scoreSec} s (${gpu.description}), total ${result.totalSec} s`,
    );
  }
  return result;
}

/**
 * The k-means baseline on the GPU (core/train/validation.ts EvalContext.fitBaseline + run) against its float64
 * CPU statement (core/eval/kmeans.ts kmeansBaselineCpu): on the raw features of a small validation split,
 * the fit gives the centroids kmeansF32 gives on the same normalised patches, and scoring those centroids
 * in the evaluation pass (nearest centroid of the upsampled f̂, via the linear-probe slot) gives the mIoU
 * the CPU computes pixel by pixel.
 * @module
 */
import assert from "node:assert/strict";
import { gpuTest } from "../_util.ts";
import { TINY_RUN } from "../_tiny.ts";
import { loadConfig } from "../../core/model/config.ts";
import { HpGraph } from "../../core/train/graph.ts";
import { embeddedVitWeights } from "../../core/vit/embedded.ts";
import { EvalContext } from "../../core/train/validation.ts";
import { kmeansBaselineCpu, normalizeRows } from "../../core/eval/kmeans.ts";
import { kmeansF32 } from "../../core/eval/kmeans_f32.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { openDataset } from "../../datasets/registry.ts";
import { Rng } from "../../core/rng.ts";

gpuTest("k-means baseline: GPU fit and scoring equal the CPU statement", async ({ gpu, arena }) => {
  const cfg = loadConfig("synthetic", [...TINY_RUN, "dataset.val_count=10", "eval.batch=4"]);
  const ds = await openDataset({ dataset: "synthetic", split: "val", imageSize: 32, count: 10, seed: 0 });
  const n = ds.nClasses;
  const graph = await HpGraph.create(gpu, arena, cfg, embeddedVitWeights(), n, new Rng(3));
  const ctx = await EvalContext.create(gpu, arena, graph, ds, cfg, n);
  try {
    const P = ctx.vit.patches, C = ctx.vit.config.dim, res = cfg.eval.res;
    const feats: number[] = [], labels: number[] = [];
    for await (const b of ctx.batches()) {
      ctx.images.write(b.images);
      const rec = new StepRecorder(gpu, "test-features");
      ctx.vit.encode(rec, ctx.images);
      rec.submit();
      const f = await readF32(gpu, ctx.vit.features);
      feats.push(...f.subarray(0, b.count * P * C));
      labels.push(...b.labels.subarray(0, b.count * res * res));
    }
    const F = Float32Array.from(feats), L = Int32Array.from(labels);
    const x = F.slice();
    normalizeRows(x, C);
    const want = kmeansF32(x, 10 * P, C, n, { seed: cfg.train.seed }).centroids;
    const centroids = await ctx.fitBaseline();
    assert.deepEqual(centroids, want, "fit on every patch (160 < the subsample cap), in dataset order");
    const got = (await ctx.run(graph, {}, centroids)).kmeans_miou!;
    const cpu = kmeansBaselineCpu(
      {
        features: F,
        labels: L,
        batch: 10,
        grid: ctx.vit.gridH,
        channels: C,
        height: res,
        width: res,
        nClasses: n,
      },
      {},
      centroids,
    );
    assert.ok(Number.isFinite(got) && got > 10, `baseline mIoU ${got}`);
    assert.ok(Math.abs(got - cpu.kmeans_miou) < 0.05, `GPU ${got} vs CPU ${cpu.kmeans_miou}`);
  } finally {
    ctx.destroy();
    graph.destroy();
  }
});

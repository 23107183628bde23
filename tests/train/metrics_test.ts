/**
 * The trainer's metrics capture reports the mean LHP set size |L_i| (hp-method.md §5.5; telemetry
 * positives.lhp) of the step it was captured in: decoded by core/train/metrics.ts and compared with the
 * float count over that step's coefficients read back from the GPU afterwards.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../core/model/config.ts";
import { openDataset } from "../../datasets/registry.ts";
import { Loader } from "../../core/data/loader.ts";
import { embeddedVitWeights } from "../../core/vit/embedded.ts";
import { HpGraph } from "../../core/train/graph.ts";
import { drawStepSeeds } from "../../core/train/schedule.ts";
import { decodeMetrics } from "../../core/train/metrics.ts";
import { lhpCountRef } from "../../core/model/lhp.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { Rng } from "../../core/rng.ts";
import { gpuTest } from "../_util.ts";

gpuTest("metrics capture: positives.lhp is the mean |L_i| of the captured step", async ({ gpu, arena }) => {
  const cfg = loadConfig("synthetic", [
    "dataset.image_size=40",
    "train.res=40", // S = 5, P = 25, N = 75: not a multiple of the counting workgroup
    "train.batch=3",
    "hp.pool_size=8",
  ]);
  const ds = await openDataset({ dataset: "synthetic", split: "train", imageSize: 40, count: 6, seed: 0 });
  const loader = new Loader(ds, { batch: 3, size: 40, seed: 0, augment: true, augOnGpu: true });
  const rng = new Rng(5);
  const graph = await HpGraph.create(gpu, arena, cfg, embeddedVitWeights(), ds.nClasses, rng);
  try {
    const N = graph.dims.N;
    assert.equal(N, 75);
    let s = 0;
    const seen: number[] = [];
    for await (const batch of loader.epoch(0)) {
      s++;
      assert.ok(graph.step(batch, drawStepSeeds(rng), 0.5, s), "captured");
      const r = (await graph.ring.collect())!;
      assert.equal(r.tag, s);
      const m = decodeMetrics(r.data, N);
      const want = lhpCountRef(await readF32(gpu, graph.lhpCoef), N);
      assert.equal(m.posLhp, Math.fround(want), `step ${s}`);
      assert.ok(want > 1 && want < 9, `step ${s}: non-trivial |L_i| (${want})`);
      seen.push(m.posLhp);
    }
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], seen[1], "different batches, different LHP sets");
  } finally {
    graph.destroy();
  }
});

/**
 * The claim of README "Training", on the full embedded default (configs/synthetic.yaml, exactly what
 * `deno task train` runs): HP's cluster mIoU beats k-means on the raw backbone features by ≥ 5 points on the
 * synthetic validation split. About 2–3 minutes on 2 CPU cores with lavapipe (slow tier).
 * @module
 */
import assert from "node:assert/strict";
import { gpuTest } from "../_util.ts";

gpuTest(
  "embedded default: HP cluster mIoU beats k-means on raw features by ≥ 5 points (full run, ~2–3 min)",
  async ({ gpu }) => {
    const { loadConfig } = await import("../../core/model/config.ts");
    const { runTraining } = await import("../../core/train/loop.ts");
    const dir = await Deno.makeTempDir({ prefix: "hpseg-default-" });
    try {
      const r = await runTraining(gpu, {
        config: loadConfig("synthetic"),
        runDir: dir,
        runId: "default",
        post: () => {},
        noPictures: true,
      });
      const f = r.final!;
      console.error(`[embedded default] ${JSON.stringify(f)}`);
      assert(
        Number.isFinite(f.kmeans_miou) && f.kmeans_miou > 20,
        `implausible k-means baseline ${f.kmeans_miou}`,
      );
      assert(
        f.cluster_miou >= f.kmeans_miou + 5,
        `HP cluster mIoU ${f.cluster_miou.toFixed(2)} does not beat k-means ${
          f.kmeans_miou.toFixed(2)
        } by 5 points`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * `eval.crf` (hp-method.md §1: the final model is evaluated without and with the dense CRF, §8.5): a run
 * with it reports the four probe scores after the CRF next to the plain ones, which stay exactly those of
 * the same run without it; the final JSON line carries them as `crf`.
 * @module
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../core/model/config.ts";
import { runTraining } from "../../core/train/loop.ts";
import { finalLine } from "../../core/cli/train.ts";
import type { Gpu } from "../../core/gpu/device.ts";
import { gpuTest } from "../_util.ts";
import { TINY_RUN } from "../_tiny.ts";

async function final(gpu: Gpu, crf: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "hpseg-final-crf-" });
  try {
    const config = loadConfig("synthetic", [...TINY_RUN, "train.log_every=1", `eval.crf=${crf}`]);
    const r = await runTraining(gpu, {
      config,
      runDir: dir,
      runId: "crf",
      maxSteps: 3,
      post: () => {},
      skipBaseline: true,
      noPictures: true,
    });
    return r.final!;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

gpuTest(
  "eval.crf adds the after-CRF scores to the final metrics and leaves the others unchanged",
  async ({ gpu }) => {
    const plain = await final(gpu, false), withCrf = await final(gpu, true);
    assert.equal(plain.crf, undefined);
    const { crf, ...rest } = withCrf;
    assert.deepEqual(rest, plain, "the scores without CRF do not depend on eval.crf");
    assert.ok(crf, "no CRF scores");
    for (const [k, v] of Object.entries(crf)) assert.ok(v >= 0 && v <= 100, `crf.${k} = ${v}`);
    const line = finalLine(withCrf);
    assert.deepEqual(Object.keys(line), [
      "cluster_acc",
      "cluster_miou",
      "linear_acc",
      "linear_miou",
      "kmeans_miou",
      "crf",
    ]);
    assert.deepEqual(Object.keys(line.crf as object), [
      "cluster_acc",
      "cluster_miou",
      "linear_acc",
      "linear_miou",
    ]);
    assert.deepEqual(Object.keys(finalLine(plain)), [
      "cluster_acc",
      "cluster_miou",
      "linear_acc",
      "linear_miou",
      "kmeans_miou",
    ]);
  },
);

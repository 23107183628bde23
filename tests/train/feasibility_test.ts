/**
 * The feasibility plan (core/train/feasibility.ts) against real graph creation: under a binding limit reduced
 * so that the plan allows exactly 3 images per batch, HpGraph.create succeeds at batch 3 and throws at
 * batch 4 — for configurations where the attention logits, the codes or the input images are the largest
 * buffer. Plus the one-line refusals: the official COCO-Stuff config on lavapipe's 128 MiB limit names the
 * largest batch whose [B, 784, 784] f32 attention fits, a pool larger than the data, a resolution whose
 * single image does not fit.
 * @module
 */
import assert from "node:assert/strict";
import { gpuTest } from "../_util.ts";
import type { Gpu } from "../../core/gpu/device.ts";
import { BufferArena } from "../../core/gpu/buffers.ts";
import { InputError } from "../../core/errors.ts";
import { loadConfig } from "../../core/model/config.ts";
import { formulaVitWeights } from "../../core/vit/weights.ts";
import { HpGraph } from "../../core/train/graph.ts";
import { Rng } from "../../core/rng.ts";
import {
  checkPoolFitsDataset,
  checkTrainingFits,
  largestFittingBatch,
  trainingBuffers,
} from "../../core/train/feasibility.ts";

/** The same device with the binding and buffer limits lowered to `bytes`. */
function limited(gpu: Gpu, bytes: number): Gpu {
  const limits = new Proxy(gpu.limits, {
    get: (t, k) =>
      k === "maxStorageBufferBindingSize" || k === "maxBufferSize"
        ? bytes
        : (t as unknown as Record<string | symbol, unknown>)[k],
  });
  return { ...gpu, limits };
}

const CASES = [
  { what: "backbone features", top: "vit-features", res: 128, dim: 256, headDim: 16 },
  { what: "codes", top: "codes", res: 128, dim: 64, headDim: 320 },
  { what: "input images", top: "train-images", res: 64, dim: 32, headDim: 16 },
];

for (const c of CASES) {
  gpuTest(
    `feasibility: the plan's largest batch is where graph creation starts to fail (${c.what})`,
    async ({ gpu }) => {
      const weights = formulaVitWeights({
        patch: 8,
        dim: c.dim,
        depth: 1,
        heads: 1,
        posGrid: 4,
        mlpDim: 2 * c.dim,
      });
      const dims = { vit: weights.config, nClasses: 5 };
      const cfg = (batch: number) =>
        loadConfig("synthetic", [
          `train.batch=${batch}`,
          `train.res=${c.res}`,
          `head.dim=${c.headDim}`,
          "hp.pool_size=8",
          "eval.res=16",
          "eval.batch=1",
        ]);
      const needs = trainingBuffers(cfg(1), dims);
      const top = needs.reduce((a, b) => (b.perImage > a.perImage ? b : a));
      assert.ok(top.label.startsWith(c.top), top.label);
      const limit = 3 * top.perImage + Math.floor(top.perImage / 2);
      assert.equal(largestFittingBatch(needs, limit), 3);
      const small = limited(gpu, limit);
      for (const batch of [3, 4]) {
        const arena = new BufferArena(small, `feasibility-${batch}`);
        let graph: HpGraph | null = null;
        try {
          graph = await HpGraph.create(small, arena, cfg(batch), weights, 5, new Rng(1));
          assert.equal(batch, 3, "batch 4 must not fit");
        } catch (err) {
          assert.equal(batch, 4, `batch 3 must fit: ${err}`);
          assert.ok(err instanceof RangeError, String(err));
        } finally {
          graph?.destroy();
          arena.destroyAll();
        }
      }
      assert.throws(
        () => checkTrainingFits(cfg(4), dims, small.limits),
        (e: Error) =>
          e instanceof InputError &&
          /the largest batch that fits is 3 \(--set train\.batch=3\)/.test(e.message),
      );
      assert.doesNotThrow(() => checkTrainingFits(cfg(3), dims, small.limits));
    },
  );
}

const S8 = { patch: 8, dim: 384, heads: 6, mlpDim: 1536 };
const LAVAPIPE = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 2 ** 31 };

Deno.test("feasibility: COCO-Stuff fits batch 64 on a 128 MiB adapter; batch 128 is refused naming the largest", () => {
  // The fused attention stores no [B, 784, 784] logits any more (they capped lavapipe at batch 54); the
  // largest buffer per image is now the codes [B·784, 512] f32: 1,605,632 bytes per image.
  const fit = Math.floor(LAVAPIPE.maxStorageBufferBindingSize / (784 * 512 * 4));
  assert.equal(fit, 83);
  const at = (batch: number) =>
    loadConfig("cocostuff27", ["dataset.root=/data/coco", `train.batch=${batch}`]);
  assert.doesNotThrow(() => checkTrainingFits(at(64), { vit: S8, nClasses: 27 }, LAVAPIPE));
  assert.throws(
    () => checkTrainingFits(at(128), { vit: S8, nClasses: 27 }, LAVAPIPE),
    (e: Error) =>
      e instanceof InputError && !e.message.includes("\n") &&
      e.message.startsWith("train.batch 128 does not fit this adapter at train.res 224") &&
      e.message.includes("codes [B·P, D] needs 196 MiB") &&
      e.message.endsWith(`the largest batch that fits is ${fit} (--set train.batch=${fit})`),
  );
  assert.match(checkTrainingFits(at(fit), { vit: S8, nClasses: 27 }, LAVAPIPE).summary, /codes/);
  // Memory: a 200 MB machine cannot hold the buffers of batch 83.
  assert.throws(
    () => checkTrainingFits(at(fit), { vit: S8, nClasses: 27 }, LAVAPIPE, { memoryBytes: 2e8 }),
    /needs about .* of GPU buffers, more than the 200\.0 MB of memory/,
  );
});

Deno.test("feasibility: a pool the training set cannot fill and an image that cannot fit are refused", () => {
  const cfg = loadConfig("cocostuff27", ["dataset.root=/x", "train.batch=32"]);
  assert.throws(
    () => checkPoolFitsDataset(cfg, 1000, "the cocostuff27 training set (five-crops)"),
    /hp\.pool_size 2048 needs 64 batches of 32 training images \(2048\), but the cocostuff27 training set \(five-crops\) has 1000 \(31 full batches\); lower hp\.pool_size to at most 992/,
  );
  assert.doesNotThrow(() => checkPoolFitsDataset(cfg, 2048, "x"));
  // train.res is capped by the config (≤ 2048 patches per crop, core/limits.ts); eval.res only by this check.
  const big = loadConfig("cocostuff27", ["dataset.root=/x", "eval.res=1536", "train.batch=1"]);
  assert.throws(
    () => checkTrainingFits(big, { vit: S8, nClasses: 27 }, LAVAPIPE),
    /eval\.res 1536 does not fit this adapter: one image's ViT activations need .*; lower eval\.res$/,
  );
});

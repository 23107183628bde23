/**
 * Building the reference pools before training and renewing Pool_sp during it (hp-method.md §4), and the
 * cluster probe's k-means start. Pool building is ⌈K/B⌉ backbone forwards (2,048 images for COCO): each
 * batch is waited for, so the run reports progress with an estimate and answers Ctrl-C between batches.
 * @module
 */
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import { hash32, Rng } from "../rng.ts";
import { InputError, Interrupted } from "../errors.ts";
import type { Loader } from "../data/loader.ts";
import type { RgbImage } from "../viz/pictures.ts";
import { kmeans, normalizeRows } from "../eval/kmeans.ts";
import type { HpGraph } from "./graph.ts";
import type { PhaseHooks } from "./progress.ts";
import { patchContext } from "./pictures.ts";

/**
 * Builds Pool_ag (with `ag`) and Pool_sp from the first ⌈K/B⌉ batches of the pool loader's epoch `id`.
 * @returns with `ag`, a small crop around the patch behind each Pool_ag row (for the pictures)
 * @throws Interrupted when `hooks.shouldStop` says so (the pools in use are then unchanged)
 */
export async function buildPools(
  graph: HpGraph,
  loader: Loader,
  rng: Rng,
  id: number,
  ag: boolean,
  hooks: PhaseHooks = {},
): Promise<RgbImage[] | null> {
  const draw = graph.pools.begin(rng, ag);
  const { B, K, S, res } = graph.dims;
  const crops: RgbImage[] | null = draw.posAg ? [] : null;
  let b = 0;
  const need = graph.pools.batches;
  const it = loader.epoch(id % 0x7fffffff)[Symbol.asyncIterator]();
  try {
    while (b < need) {
      if (hooks.shouldStop?.()) throw new Interrupted("pool building interrupted");
      const t0 = performance.now();
      const r = await it.next();
      if (r.done) break;
      const rec = new StepRecorder(graph.gpu, "pool-batch");
      graph.encodeCleanImages(rec, r.value.rgb);
      graph.vit.encode(rec, graph.images);
      graph.pools.addBatch(rec, b, graph.vit.features);
      for (let i = 0; crops && i < B && b * B + i < K; i++) {
        crops.push(patchContext(r.value.images, i, res, S, draw.posAg![b * B + i]));
      }
      b++;
      if (b === need) graph.pools.finish(rec);
      rec.submit();
      // Waiting here costs one sync per batch and gives honest timings for the estimate.
      await graph.gpu.device.queue.onSubmittedWorkDone();
      hooks.onProgress?.(b, need, (performance.now() - t0) / 1000);
    }
  } finally {
    await it.return?.();
  }
  if (b < need) throw new InputError(`pool of ${graph.dims.K} needs ${need} batches, the dataset gives ${b}`);
  return crops;
}

/**
 * Initialises the cluster probe's centroids by k-means on the normalised train-mode codes of one batch
 * (the pool loader's first batch, dropout seeds from their own Rng) instead of N(0,1) draws: with few
 * clusters and a short run, random centroids that no code is nearest to never receive a gradient and stay
 * dead (hp-method.md §8.2's probe only moves the winning centroid). Deterministic in the seed. A batch with
 * fewer code rows than clusters keeps the probe's own random start.
 */
export async function initClusterProbe(graph: HpGraph, loader: Loader, seed: number): Promise<void> {
  const { N, D, n } = graph.dims;
  if (N < n) return;
  const it = loader.epoch(0)[Symbol.asyncIterator]();
  const first = await it.next();
  await it.return?.();
  if (first.done) return;
  const rng = new Rng(hash32(seed, 0x636c7573));
  graph.head.setSeeds({ a: rng.nextU32(), b: rng.nextU32() });
  const rec = new StepRecorder(graph.gpu, "cluster-probe-init");
  graph.encodeCleanImages(rec, first.value.rgb);
  graph.vit.encode(rec, graph.images);
  graph.head.record(rec);
  rec.submit();
  const codes = await readF32(graph.gpu, graph.head.code);
  normalizeRows(codes, D);
  const { centroids } = kmeans(codes.subarray(0, N * D), N, D, n, { seed: rng.nextU32(), restarts: 3 });
  graph.cluster.params.write(Float32Array.from(centroids));
}

/**
 * `deno task bench train [--json] [--quick]`: HP training step time and GPU memory (webgpu-notes.md §8: the official HP's step on an H100).
 *
 * Settings, each a real {@link HpGraph} step (backbone clean + augmented view, heads, EMA, LHP, HP loss
 * and gradients, probes, four optimisers — one encoder, one submit):
 *   - "small":   the embedded default (configs/synthetic.yaml: built-in ViT, 64 px, batch 8) — always run;
 *   - "coco-b4": configs/cocostuff27.yaml at batch 4 (ViT-S/8 shapes, 224 px, D 512, K 2048, N = 3,136) —
 *     run on every adapter (on a software adapter one step, no warm-up; minutes; skipped with --quick);
 *   - "coco":    configs/cocostuff27.yaml (batch 64, N = 50,176) — only on a hardware adapter; on a
 *     software adapter it reports "not measured: no GPU".
 * Every setting reports `dispatchesPerStep` (and per phase, counted from a recorded, unsubmitted step),
 * `uploadBytesPerStep` (every queue.writeBuffer of one step), `peakGpuBytes` and `gpuMsPerPhase` (the
 * step timer's timestamps of one captured step, where the adapter has timestamp queries).
 * Inputs are random images and unit-norm random pools (timing does not depend on the values; the ViT-S/8
 * weights are the formula weights of dino-backbone.md §5.1). Each setting runs `warmup` steps, then times
 * `steps` steps submitted back to back and one onSubmittedWorkDone (Deno's ~10 ms poll floor is paid once).
 * Peak GPU memory is estimated as the bytes of every live buffer of the run (arena live bytes, backbone
 * scratch and weights): nothing is allocated per step, so that is also the peak.
 * Reference (hp-method.md §10 / webgpu-notes.md §8): the official PyTorch code on an H100, ViT-S/8 batch 64:
 * 1.01 s/step, 22.2 GiB peak.
 * @module
 */
import type { BenchOptions } from "./suite.ts";
import { describeGpu, type Gpu, openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { Rng } from "../rng.ts";
import { loadConfig } from "../model/config.ts";
import { formulaVitWeights } from "../vit/weights.ts";
import { embeddedVitWeights } from "../vit/embedded.ts";
import { HpGraph } from "../train/graph.ts";
import { drawStepSeeds } from "../train/schedule.ts";
import type { VitWeights } from "../vit/vit.ts";
import { decodePhaseMs } from "../train/step_timer.ts";
import { HP_STATS } from "../model/loss.ts";
import { sampleAugParams } from "../data/augment.ts";

/** The official implementation's numbers on an H100 (ViT-S/8, batch 64; webgpu-notes.md §8). */
export const PYTORCH_H100 = { secondsPerStep: 1.01, peakGiB: 22.2 };

interface SettingResult {
  name: string;
  measured: boolean;
  reason?: string;
  batch?: number;
  res?: number;
  N?: number;
  msPerStep?: number;
  imagesPerSec?: number;
  peakGpuMiB?: number;
  peakGpuBytes?: number;
  steps?: number;
  dispatchesPerStep?: number;
  dispatchesPerPhase?: Record<string, number>;
  uploadBytesPerStep?: number;
  gpuMsPerPhase?: Record<string, number> | null;
  /** Mean |P_ag_i| and |D_i| of the captured step: the loss's sparse work scales with them. */
  meanPositives?: number;
  meanDenominator?: number;
}

function unitRows(rng: Rng, rows: number, cols: number): Float32Array {
  const a = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (a[r * cols + c] = rng.normal()) ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let c = 0; c < cols; c++) a[r * cols + c] *= inv;
  }
  return a;
}

/** Bytes `fn` hands to queue.writeBuffer (the batch, seeds and step uniforms of one step). */
function countUploads(gpu: Gpu, fn: () => void): number {
  const q = gpu.device.queue;
  const orig = q.writeBuffer;
  let n = 0;
  q.writeBuffer = function (
    buffer: GPUBuffer,
    offset: number,
    data: BufferSource,
    dataOffset?: number,
    size?: number,
  ) {
    // Offsets and sizes count elements for typed arrays, bytes otherwise (WebGPU writeBuffer).
    const unit = ArrayBuffer.isView(data) && "BYTES_PER_ELEMENT" in data
      ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
      : 1;
    n += size !== undefined ? size * unit : data.byteLength - (dataOffset ?? 0) * unit;
    return orig.call(q, buffer, offset, data, dataOffset, size);
  } as typeof q.writeBuffer;
  try {
    fn();
  } finally {
    q.writeBuffer = orig;
  }
  return n;
}

function weightBytes(w: VitWeights): number {
  let n = 0;
  for (const t of w.tensors.values()) n += t.byteLength;
  return n;
}

async function timeSetting(
  gpu: Gpu,
  name: string,
  configName: string,
  weights: VitWeights,
  nClasses: number,
  warmup: number,
  steps: number,
  sets: string[] = [],
): Promise<SettingResult> {
  const cfg = loadConfig(configName, sets);
  const arena = new BufferArena(gpu, `bench-${name}`);
  const rng = new Rng(0);
  const graph = await HpGraph.create(gpu, arena, cfg, weights, nClasses, rng);
  try {
    const { B, res, K, Df, D, N } = graph.dims;
    graph.pools.loadState({ ag: unitRows(rng, K, Df), sp: unitRows(rng, K, D) });
    const rgb = Uint8Array.from({ length: B * res * res * 3 }, () => rng.int(256));
    const labels = Int32Array.from({ length: B * res * res }, () => rng.int(nClasses));
    const batch = { rgb, labels, augParams: Array.from({ length: B }, () => sampleAugParams(rng)) };
    const perPhase = graph.dispatchesPerPhase();
    const { capture: _capture, ...stepPhases } = perPhase;
    for (let i = 0; i < warmup; i++) graph.step(batch, drawStepSeeds(rng), 0.5, null);
    await gpu.device.queue.onSubmittedWorkDone();
    let uploaded = 0;
    const t0 = performance.now();
    // The last timed step also captures the metrics, with the step timer's timestamps when the adapter has them.
    const timed = graph.timer !== null;
    for (let i = 0; i < steps; i++) {
      const capture = timed && i === steps - 1 ? 1 : null;
      const n = countUploads(gpu, () => graph.step(batch, drawStepSeeds(rng), 0.5, capture));
      if (i === 0) uploaded = n;
    }
    await gpu.device.queue.onSubmittedWorkDone();
    const ms = (performance.now() - t0) / steps;
    let gpuMsPerPhase: Record<string, number> | null = null;
    let loss: Float32Array | null = null;
    if (timed) {
      const got = await graph.ring.collect();
      if (got) loss = new Float32Array(got.data, 0, 16); // HpLoss.stats heads the metrics capture
      const phases = got ? decodePhaseMs(got.data, graph.timerOffset) : null;
      if (phases) {
        gpuMsPerPhase = Object.fromEntries(
          Object.entries(phases).map(([k, v]) => [k, Math.round(v * 10) / 10]),
        );
      }
    }
    const live = arena.liveBytes + graph.vit.arena.liveBytes + (graph.vitAug?.arena.liveBytes ?? 0) +
      weightBytes(weights);
    return {
      name,
      measured: true,
      batch: B,
      res,
      N,
      steps,
      msPerStep: Math.round(ms * 10) / 10,
      imagesPerSec: Number((1000 * B / ms).toPrecision(3)),
      peakGpuMiB: Math.round(live / 2 ** 20),
      peakGpuBytes: live,
      dispatchesPerStep: Object.values(stepPhases).reduce((a, b) => a + b, 0),
      dispatchesPerPhase: perPhase,
      uploadBytesPerStep: uploaded,
      gpuMsPerPhase,
      ...(loss ? { meanPositives: loss[HP_STATS.meanPosAg], meanDenominator: loss[HP_STATS.meanDenom] } : {}),
    };
  } finally {
    graph.destroy();
    arena.destroyAll();
  }
}

/** Runs the suite (see the module comment). */
export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const gpu = await openGpu({ announce: !opts.json });
  try {
    const results: SettingResult[] = [];
    const quick = opts.quick;
    results.push(
      await timeSetting(gpu, "small", "synthetic", embeddedVitWeights(), 7, quick ? 1 : 2, quick ? 2 : 10),
    );
    const vits8 = formulaVitWeights({ patch: 8, dim: 384, depth: 12, heads: 6, posGrid: 28 });
    if (quick && gpu.isSoftware) {
      results.push({
        name: "coco-b4",
        measured: false,
        reason: "skipped with --quick on a software adapter",
      });
    } else {
      const [w, n] = gpu.isSoftware ? [0, 1] : [2, quick ? 2 : 10];
      results.push(await timeSetting(gpu, "coco-b4", "cocostuff27", vits8, 27, w, n, ["train.batch=4"]));
    }
    if (gpu.isSoftware) {
      results.push({ name: "coco", measured: false, reason: "not measured: no GPU (software adapter)" });
    } else {
      results.push(await timeSetting(gpu, "coco", "cocostuff27", vits8, 27, 2, quick ? 2 : 10));
    }
    const out = {
      suite: "train",
      adapter: describeGpu(gpu),
      software: gpu.isSoftware,
      reference: { pytorchH100ViTS8Batch64: PYTORCH_H100 },
      results,
    };
    if (!opts.json) {
      console.log(`train step (${out.adapter})`);
      for (const r of results) {
        console.log(
          r.measured
            ? `  ${r.name.padEnd(7)} batch ${r.batch} @ ${r.res}px (N=${r.N}): ${r.msPerStep} ms/step, ` +
              `${r.imagesPerSec} img/s, ~${r.peakGpuMiB} MiB GPU, ${r.dispatchesPerStep} dispatches/step ` +
              `${JSON.stringify(r.dispatchesPerPhase)}, ${r.uploadBytesPerStep} B uploaded/step` +
              (r.gpuMsPerPhase ? `, GPU ms/phase ${JSON.stringify(r.gpuMsPerPhase)}` : "")
            : `  ${r.name.padEnd(7)} ${r.reason}`,
        );
      }
      console.log(
        `  reference: official PyTorch on an H100, ViT-S/8 batch 64: ${PYTORCH_H100.secondsPerStep} s/step, ` +
          `${PYTORCH_H100.peakGiB} GiB peak`,
      );
    }
    return out;
  } finally {
    gpu.destroy();
  }
}

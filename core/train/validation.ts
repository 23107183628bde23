/**
 * Validation during training (hp-method.md §8.1–§8.4, §8.6): the eval-mode model (backbone at eval.res, θ
 * without dropout) over the validation split through core/eval's evaluate() — images decoded by the run's
 * loader Workers, only confusion counts read back — and the k-means baseline on the raw backbone features of
 * the same images (core/eval/kmeans.ts): fitted on a fixed-seed subsample, scored in the final pass.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import { Interrupted } from "../errors.ts";
import type { SegDataset } from "../../datasets/dataset.ts";
import { Loader, type LoaderWorkers } from "../data/loader.ts";
import { VitBackbone } from "../vit/vit.ts";
import type { HpConfig } from "../model/config_schema.ts";
import type { HpGraph } from "./graph.ts";
import { prepareHeadForward } from "../model/heads.ts";
import { prepareL2Normalize } from "../kernels/l2norm.ts";
import {
  type EvalBatch,
  type EvalModel,
  evaluate,
  type ExtraModel,
  type ProbeParams,
} from "../eval/evaluate.ts";
import { baselineRestarts, baselineSample, normalizeRows } from "../eval/kmeans.ts";
import { kmeansF32 } from "../eval/kmeans_f32.ts";
import type { Scores } from "../eval/metrics.ts";
import type { CrfPool } from "../eval/crf_pool.ts";
import { denormalizeImageNet } from "../image/transforms.ts";
import type { PhaseHooks } from "./progress.ts";

/**
 * Probes that assign each pixel to its nearest centroid: the linear slot holds W = C, b = −‖c‖²/2, so its
 * argmax over the upsampled f̂ is the nearest centroid in Euclidean distance (kmeans.ts step 3).
 */
export function nearestCentroid(centroids: Float32Array, n: number): ProbeParams {
  const D = centroids.length / n, linear = new Float32Array(n * D + n);
  linear.set(centroids);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < D; t++) s += centroids[j * D + t] ** 2;
    linear[n * D + j] = -s / 2;
  }
  return { clusters: centroids, linear };
}

/** Per-class IoU (percent, null = class absent) and confusion counts [class, gt] after each probe's mapping. */
export interface ProbeDetails {
  cluster: { iou: (number | null)[]; confusion: number[] };
  linear: { iou: (number | null)[]; confusion: number[] };
}

/** Rows of H[pred, gt] reordered so row k is the prediction mapped to class k (the diagonal = correct). */
function mapped(h: ArrayLike<number>, n: number, classToPred: number[]): number[] {
  const out = new Array<number>(n * n).fill(0);
  for (let k = 0; k < n; k++) {
    const r = classToPred[k];
    if (r < 0) continue;
    for (let g = 0; g < n; g++) out[k * n + g] = h[r * n + g];
  }
  return out;
}

/** The dataset's class names, padded with "class k" to n (a folder without names). */
export function classNames(names: readonly string[] | undefined, n: number): string[] {
  return Array.from({ length: n }, (_, k) => names?.[k] || `class ${k}`);
}

/** Probe scores of one validation pass, in percent. */
export interface ValScores {
  cluster_acc: number;
  cluster_miou: number;
  linear_acc: number;
  linear_miou: number;
}

function toValScores(r: { cluster: Scores; linear: Scores }): ValScores {
  return {
    cluster_acc: r.cluster.acc,
    cluster_miou: r.cluster.miou,
    linear_acc: r.linear.acc,
    linear_miou: r.linear.miou,
  };
}

/** Validation: the eval-mode model over the validation split, plus the raw-feature k-means baseline. */
export class EvalContext {
  /**
   * What the latest {@link run} evaluated: the probes it read back and the cluster probe's Hungarian matching
   * (classToPred[k] = cluster id matched to class k). The prediction pictures reuse both; null before a run.
   */
  last: { probes: ProbeParams; clusterMatch: number[] } | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly arena: BufferArena,
    readonly vit: VitBackbone,
    readonly model: EvalModel,
    /** The baseline's model: f̂ = normalize(raw features), recorded after {@link model}'s forward. */
    readonly rawModel: EvalModel,
    readonly ds: SegDataset,
    readonly cfg: HpConfig,
    readonly n: number,
    readonly images: GpuTensor,
    readonly pool: LoaderWorkers | null,
  ) {}

  static async create(
    gpu: Gpu,
    arena: BufferArena,
    graph: HpGraph,
    ds: SegDataset,
    cfg: HpConfig,
    n: number,
    pool: LoaderWorkers | null = null,
  ) {
    const Be = cfg.eval.batch, res = cfg.eval.res;
    const vit = await VitBackbone.create(gpu, arena, graph.vitWeights, {
      batch: Be,
      height: res,
      width: res,
    });
    const Sh = vit.gridH, Sw = vit.gridW, D = graph.dims.D, Df = graph.dims.Df, rows = Be * Sh * Sw;
    const head = await prepareHeadForward(gpu, arena, { rows, Df, D, P: Sh * Sw }, "eval", {
      params: graph.theta,
      features: vit.features,
    });
    const model: EvalModel = {
      code: head.code,
      D,
      Sh,
      Sw,
      encode(rec, images) {
        vit.encode(rec, images);
        head.record(rec);
      },
    };
    const fhat = arena.tensor([rows, Df], "f32", "eval-raw-fhat");
    const norm = await prepareL2Normalize(gpu, arena, rows, Df, { x: vit.features, y: fhat });
    const rawModel: EvalModel = { code: fhat, D: Df, Sh, Sw, encode: (rec) => rec.dispatch(norm) };
    const images = arena.tensor([Be, 3, res, res], "f32", "eval-images-kmeans");
    return new EvalContext(gpu, arena, vit, model, rawModel, ds, cfg, n, images, pool);
  }

  /** The validation batches (all images, or `indices`), padded to eval.batch; with `rgb`, the RGB the CRF needs. */
  async *batches(rgb = false, indices?: number[]): AsyncIterable<EvalBatch> {
    const Be = this.cfg.eval.batch, res = this.cfg.eval.res;
    const loader = new Loader(this.ds, {
      batch: Be,
      size: res,
      seed: 0,
      shuffle: false,
      dropLast: false,
      pool: this.pool ?? undefined,
      indices,
    });
    try {
      for await (const b of loader.epoch(0)) {
        const count = b.indices.length;
        const colours = rgb ? { rgb: denormalizeImageNet(b.images, count, res, res) } : {};
        if (count === Be) {
          yield { images: b.images, labels: b.labels, count, ...colours };
        } else {
          const images = new Float32Array(Be * 3 * res * res),
            labels = new Int32Array(Be * res * res).fill(-1);
          images.set(b.images);
          labels.set(b.labels);
          yield { images, labels, count, ...colours };
        }
      }
    } finally {
      loader.close();
    }
  }

  /**
   * Cluster/linear probe scores (percent) of the graph's current θ and probes; with `baseline` centroids
   * ({@link fitBaseline}) also the k-means baseline's cluster mIoU, scored in the same pass.
   * @throws Interrupted when `hooks.shouldStop` says so between batches
   */
  async run(
    graph: HpGraph,
    hooks: PhaseHooks = {},
    baseline?: Float32Array,
    crf?: CrfPool,
  ): Promise<ValScores & { kmeans_miou?: number; crf?: ValScores; detail?: ProbeDetails }> {
    const res = this.cfg.eval.res, Be = this.cfg.eval.batch, total = this.ds.length;
    const probes = {
      clusters: await readF32(this.gpu, graph.cluster.params),
      linear: await readF32(this.gpu, graph.linear.params),
    };
    const extra: ExtraModel | undefined = baseline
      ? { model: this.rawModel, probes: nearestCentroid(baseline, this.n) }
      : undefined;
    let t0 = performance.now();
    const r = await evaluate(this.gpu, this.arena, this.model, probes, this.batches(crf !== undefined), {
      B: Be,
      H: res,
      W: res,
      n: this.n,
      imageShape: [Be, 3, res, res],
      extra,
      crf,
      shouldStop: hooks.shouldStop,
      onBatch: (images) => {
        const now = performance.now();
        hooks.onProgress?.(images, total, (now - t0) / 1000);
        t0 = now;
      },
    });
    this.last = { probes, clusterMatch: r.cluster.classToPred };
    const iou = (v: number[]) => v.map((x) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null));
    const detail: ProbeDetails | undefined = r.confusion && {
      cluster: {
        iou: iou(r.cluster.iou),
        confusion: mapped(r.confusion.cluster, this.n, r.cluster.classToPred),
      },
      linear: { iou: iou(r.linear.iou), confusion: mapped(r.confusion.linear, this.n, r.linear.classToPred) },
    };
    return {
      ...toValScores(r),
      ...(r.extra ? { kmeans_miou: r.extra.nearest.miou } : {}),
      ...(r.crf ? { crf: toValScores(r.crf) } : {}),
      ...(detail ? { detail } : {}),
    };
  }

  /**
   * Fits the k-means baseline (kmeans.ts): the raw features of a fixed-seed subsample of validation patches,
   * normalised, Lloyd's k-means with n clusters. Returns the centroids [n, D_f].
   * @throws Interrupted when `hooks.shouldStop` says so between batches
   */
  async fitBaseline(hooks: PhaseHooks = {}): Promise<Float32Array> {
    const P = this.vit.patches, C = this.vit.config.dim, seed = this.cfg.train.seed;
    const sample = baselineSample(this.ds.length, P, seed);
    const x = new Float32Array(sample.points * C);
    let row = 0, img = 0, t0 = performance.now();
    for await (const b of this.batches(false, sample.images)) {
      if (hooks.shouldStop?.()) throw new Interrupted("baseline interrupted");
      this.images.write(b.images);
      const rec = new StepRecorder(this.gpu, "kmeans-features");
      this.vit.encode(rec, this.images);
      rec.submit();
      const f = await readF32(this.gpu, this.vit.features);
      for (let i = 0; i < b.count; i++, img++) {
        const rows = sample.patches[img];
        const count = rows ? rows.length : P;
        for (let j = 0; j < count; j++) {
          const p = rows ? rows[j] : j;
          x.set(f.subarray((i * P + p) * C, (i * P + p + 1) * C), (row++) * C);
        }
      }
      const now = performance.now();
      hooks.onProgress?.(img, sample.images.length, (now - t0) / 1000);
      t0 = now;
    }
    normalizeRows(x, C);
    // Fewer patches than classes (tiny splits): as many clusters as patches, the rest copies of cluster 0,
    // which never win a pixel (ties go to the lowest id).
    const k = Math.min(this.n, sample.points);
    const centroids = new Float32Array(this.n * C);
    centroids.set(
      kmeansF32(x, sample.points, C, k, { seed, restarts: baselineRestarts(sample.points) }).centroids,
    );
    for (let j = k; j < this.n; j++) centroids.copyWithin(j * C, 0, C);
    return centroids;
  }

  destroy(): void {
    this.vit.destroy();
  }
}

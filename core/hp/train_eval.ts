/**
 * Validation during training (hp-method.md §8.1–§8.4, §8.6): the eval-mode model (backbone at eval.res, θ
 * without dropout) over the validation split through core/eval's evaluate(), and the k-means baseline on the
 * raw backbone features of the same images (core/hp/kmeans.ts).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import type { SegDataset } from "../../datasets/dataset.ts";
import { Loader } from "../data/loader.ts";
import { VitBackbone } from "../vit/vit.ts";
import type { HpConfig } from "./config.ts";
import type { HpGraph } from "./trainer.ts";
import { prepareHeadForward } from "./heads.ts";
import { type EvalBatch, type EvalModel, evaluate, type ProbeParams } from "../eval/evaluate.ts";
import { kmeansBaseline } from "./kmeans.ts";

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
    readonly ds: SegDataset,
    readonly cfg: HpConfig,
    readonly n: number,
    readonly images: GpuTensor,
  ) {}

  static async create(
    gpu: Gpu,
    arena: BufferArena,
    graph: HpGraph,
    ds: SegDataset,
    cfg: HpConfig,
    n: number,
  ) {
    const Be = cfg.eval.batch, res = cfg.eval.res;
    const vit = await VitBackbone.create(gpu, arena, graph.vitWeights, {
      batch: Be,
      height: res,
      width: res,
    });
    const Sh = vit.gridH, Sw = vit.gridW, D = graph.dims.D, Df = graph.dims.Df;
    const head = await prepareHeadForward(gpu, arena, { rows: Be * Sh * Sw, Df, D, P: Sh * Sw }, "eval", {
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
    const images = arena.tensor([Be, 3, res, res], "f32", "eval-images-kmeans");
    return new EvalContext(gpu, arena, vit, model, ds, cfg, n, images);
  }

  async *batches(): AsyncIterable<EvalBatch> {
    const Be = this.cfg.eval.batch, res = this.cfg.eval.res;
    const loader = new Loader(this.ds, { batch: Be, size: res, seed: 0, shuffle: false, dropLast: false });
    for await (const b of loader.epoch(0)) {
      const count = b.indices.length;
      if (count === Be) {
        yield { images: b.images, labels: b.labels, count };
      } else {
        const images = new Float32Array(Be * 3 * res * res), labels = new Int32Array(Be * res * res).fill(-1);
        images.set(b.images);
        labels.set(b.labels);
        yield { images, labels, count };
      }
    }
  }

  /** Cluster/linear probe scores (percent) of the graph's current θ and probes. */
  async run(
    graph: HpGraph,
  ): Promise<{ cluster_acc: number; cluster_miou: number; linear_acc: number; linear_miou: number }> {
    const res = this.cfg.eval.res;
    const probes = {
      clusters: await readF32(this.gpu, graph.cluster.params),
      linear: await readF32(this.gpu, graph.linear.params),
    };
    const r = await evaluate(this.gpu, this.arena, this.model, probes, this.batches(), {
      B: this.cfg.eval.batch,
      H: res,
      W: res,
      n: this.n,
      imageShape: [this.cfg.eval.batch, 3, res, res],
    });
    this.last = { probes, clusterMatch: r.cluster.classToPred };
    return {
      cluster_acc: r.cluster.acc,
      cluster_miou: r.cluster.miou,
      linear_acc: r.linear.acc,
      linear_miou: r.linear.miou,
    };
  }

  /** k-means (n clusters) on the raw normalised backbone features of the validation split (kmeans.ts). */
  async kmeans(): Promise<number> {
    const res = this.cfg.eval.res;
    const P = this.vit.patches, C = this.vit.config.dim;
    const feats: Float32Array[] = [], labels: Int32Array[] = [];
    for await (const b of this.batches()) {
      this.images.write(b.images);
      const rec = new StepRecorder(this.gpu, "kmeans-features");
      this.vit.encode(rec, this.images);
      rec.submit();
      const f = await readF32(this.gpu, this.vit.features);
      feats.push(f.slice(0, b.count * P * C));
      labels.push(b.labels.slice(0, b.count * res * res));
    }
    const total = feats.reduce((a, f) => a + f.length, 0) / (P * C);
    const F = new Float32Array(total * P * C), L = new Int32Array(total * res * res);
    let fo = 0, lo = 0;
    for (let i = 0; i < feats.length; i++) {
      F.set(feats[i], fo);
      L.set(labels[i], lo);
      fo += feats[i].length;
      lo += labels[i].length;
    }
    const r = kmeansBaseline(
      {
        features: F,
        labels: L,
        batch: total,
        grid: this.vit.gridH,
        channels: C,
        height: res,
        width: res,
        nClasses: this.n,
      },
      { seed: this.cfg.train.seed, restarts: 5 },
    );
    return r.kmeans_miou;
  }

  destroy(): void {
    this.vit.destroy();
  }
}

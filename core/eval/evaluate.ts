/**
 * The evaluation path (hp-method.md §8.1–§8.5): codes from any model → per-patch cluster / linear scores
 * (GEMMs) → bilinear upsampling to the label size, argmax and GPU confusion matrices
 * (shaders/eval/evaluate_pixels.wgsl) → Hungarian matching and metrics on the CPU (metrics.ts) → optional dense CRF
 * in a worker pool (crf_pool.ts) on softmax(2·cos) / softmax(logits).
 *
 * Shapes: code [B·Sh·Sw, D] (row = b·P + y·Sw + x), labels [B, H, W] Int32 (−1 = ignore).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readTensor } from "../gpu/readback.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { Confusion, scoreConfusion, type Scores } from "./metrics.ts";
import type { CrfPool } from "./crf_pool.ts";
import { prepareLinearLogits } from "../model/probes.ts";
import { Interrupted } from "../errors.ts";
import source from "../../shaders/eval/evaluate_pixels.wgsl" with { type: "text" };
import { LimitError } from "../errors.ts";
import { MAX_EVAL_CLASSES } from "../limits.ts";

/** What evaluation needs from a model: a fixed code tensor and a way to record the forward into it. */
export interface EvalModel {
  /** Code [B·Sh·Sw, D], written by {@link encode}. */
  readonly code: GpuTensor;
  readonly D: number;
  readonly Sh: number;
  readonly Sw: number;
  /** Records the forward of `images` (as the model expects them, e.g. normalised [B, 3, H, W]). */
  encode(rec: StepRecorder, images: GpuTensor): void;
}

/** Probe parameters on the CPU: centroids [n, D] and the linear probe flat [n·D + n] (weight, bias). */
export interface ProbeParams {
  clusters: Float32Array;
  linear: Float32Array;
}

/** Fixed sizes of a {@link Predictor}: batch, label size and class count. */
export interface PredictorShape {
  B: number;
  H: number;
  W: number;
  n: number;
  /** Also produce probabilities for the CRF (2·B·H·W·n floats must fit one binding). */
  probs?: boolean;
  /** Skip the cluster probe's scores (its maps and confusion are then meaningless; default false). */
  linearOnly?: boolean;
  /**
   * Read the labels of this other predictor (same B, H, W), which writes them: a second model scored in the
   * same pass then does not upload them again.
   */
  labelsFrom?: Predictor;
}

/** One batch's per-pixel results. */
export interface Prediction {
  /** Cluster ids [B·H·W] (empty when read with `predictions: false`). */
  cluster: Uint8Array;
  /** Linear-probe classes [B·H·W] (empty when read with `predictions: false`). */
  linear: Uint8Array;
  /** Confusion counts [2, n, n] (cluster, linear), H[pred, gt]; when labels were given. */
  confusion?: Uint32Array;
  /** softmax(2·cos) then softmax(logits), [2, B·H·W, n]; when `probs`. */
  probs?: Float32Array;
}

/** Bilinear upsampling + probe argmax (+ confusion, + probabilities) for one model and fixed sizes. */
export class Predictor {
  private constructor(
    readonly gpu: Gpu,
    readonly shape: PredictorShape,
    readonly model: EvalModel,
    private readonly t: {
      chat: GpuTensor;
      lin: GpuTensor;
      labels: GpuTensor;
      preds: GpuTensor;
      conf: GpuTensor;
      probs: GpuTensor | null;
    },
    private readonly dispatches: Dispatch[],
  ) {}

  /** Prepares kernels and buffers (allocated in `arena`). */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    model: EvalModel,
    probes: ProbeParams,
    shape: PredictorShape,
  ): Promise<Predictor> {
    const { B, H, W, n } = shape, { D, Sh, Sw } = model;
    const N = B * Sh * Sw, pix = B * H * W;
    if (n < 1 || n > MAX_EVAL_CLASSES) {
      throw new LimitError(`evaluate: ${n} classes (1–${MAX_EVAL_CLASSES} supported)`);
    }
    if (model.code.size < N * D) {
      throw new TypeError(
        `evaluate: code "${model.code.label}" has ${model.code.size} values, needs ${N}×${D}`,
      );
    }
    const chat = arena.tensor([n, D], "f32", "eval-chat");
    const lin = arena.tensor([n * D + n], "f32", "eval-linear");
    const cz = arena.tensor([N, n], "f32", "eval-cz"), lz = arena.tensor([N, n], "f32", "eval-lz");
    if (
      shape.labelsFrom &&
      shape.labelsFrom.shape.B * shape.labelsFrom.shape.H * shape.labelsFrom.shape.W !== pix
    ) {
      throw new TypeError("evaluate: labelsFrom has another batch or label size");
    }
    const labels = shape.labelsFrom?.labels ?? arena.tensor([pix], "i32", "eval-labels");
    const preds = arena.tensor([2 * pix], "u32", "eval-preds");
    const conf = arena.tensor([2 * n * n], "u32", "eval-confusion");
    const probs = shape.probs ? arena.tensor([2 * pix * n], "f32", "eval-probs") : null;
    const kernel = await getKernel(gpu, {
      file: "eval/evaluate_pixels.wgsl",
      source,
      bindings: ["read", "read", "read", "read", "rw", "rw", "rw", "uniform"],
      constants: { HAS_LABELS: 1, WRITE_PROBS: probs ? 1 : 0, CLUSTER: shape.linearOnly ? 0 : 1 },
    });
    const u = arena.uniform(
      packUniform([[B, "u32"], [Sh, "u32"], [Sw, "u32"], [H, "u32"], [W, "u32"], [n, "u32"], [D, "u32"], [
        0,
        "u32",
      ]]),
      "eval-pixels-params",
    );
    const probsT = probs ?? arena.tensor([1], "f32", "eval-probs-dummy");
    const dispatches: Dispatch[] = [
      ...(shape.linearOnly ? [] : [
        await prepareGemm(gpu, arena, { M: N, N: n, K: D, transB: true }, {
          a: model.code,
          b: chat,
          c: cz,
        }),
      ]),
      await prepareLinearLogits(gpu, arena, { N, n, D }, { code: model.code, params: lin, z: lz }),
      {
        kernel,
        bindGroup: bindGroup(gpu, kernel, [cz, lz, labels, model.code, preds, conf, probsT, u]),
        workgroups: grid1d(Math.ceil(pix / 256), gpu.limits.maxComputeWorkgroupsPerDimension),
      },
    ];
    const p = new Predictor(gpu, shape, model, { chat, lin, labels, preds, conf, probs }, dispatches);
    p.setProbes(probes);
    return p;
  }

  /** The label tensor [B·H·W] {@link record} writes (or reads, with `labelsFrom`). */
  get labels(): GpuTensor {
    return this.t.labels;
  }

  /** Replaces the probe parameters (e.g. the trainer's current ones). */
  setProbes(probes: ProbeParams): void {
    const { n } = this.shape, D = this.model.D;
    if (probes.clusters.length !== n * D || probes.linear.length !== n * D + n) {
      throw new TypeError(
        `evaluate: probes have ${probes.clusters.length} / ${probes.linear.length} values, need ${n}×${D} / ${
          n * D + n
        }`,
      );
    }
    const chat = new Float32Array(n * D);
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += probes.clusters[k * D + d] ** 2;
      const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
      for (let d = 0; d < D; d++) chat[k * D + d] = probes.clusters[k * D + d] * inv;
    }
    this.t.chat.write(chat);
    this.t.lin.write(probes.linear);
  }

  /**
   * Records, after the model's forward, the scores, upsampling and argmax of one batch (and its confusion
   * when `labels` are given) into `rec`. Read the results with {@link read} after submitting.
   * @param labels [B·H·W] (−1 = ignore), or undefined (prediction only)
   */
  record(rec: StepRecorder, labels?: Int32Array): void {
    const { B, H, W } = this.shape, pix = B * H * W;
    if (labels && labels.length !== pix) {
      throw new TypeError(`evaluate: ${labels.length} labels for ${B}×${H}×${W}`);
    }
    if (!this.shape.labelsFrom) this.t.labels.write(labels ?? new Int32Array(pix).fill(-1));
    rec.clear(this.t.conf);
    rec.dispatch(...this.dispatches);
  }

  /**
   * Reads back what the last submitted {@link record} produced: the label maps (unless `predictions` is
   * false: evaluation needs only the confusion, so training-time validation skips the 2·B·H·W readback),
   * the confusion when `confusion` is true, and the CRF probabilities when the predictor makes them.
   */
  async read(opts: { predictions?: boolean; confusion?: boolean } = {}): Promise<Prediction> {
    const pix = this.shape.B * this.shape.H * this.shape.W;
    const out: Prediction = { cluster: new Uint8Array(0), linear: new Uint8Array(0) };
    if (opts.predictions !== false) {
      const preds = await readTensor(this.gpu, this.t.preds) as Uint32Array;
      out.cluster = Uint8Array.from(preds.subarray(0, pix));
      out.linear = Uint8Array.from(preds.subarray(pix));
    }
    if (opts.confusion) {
      out.confusion = Uint32Array.from(await readTensor(this.gpu, this.t.conf) as Uint32Array);
    }
    if (this.t.probs) out.probs = await readTensor(this.gpu, this.t.probs) as Float32Array;
    return out;
  }

  /**
   * Runs one batch: the model's forward, scores, upsampling and argmax; confusion when `labels` are given.
   * @param images the model's input tensor
   * @param labels [B·H·W] (−1 = ignore), or undefined (prediction only)
   */
  async run(
    images: GpuTensor,
    labels?: Int32Array,
    opts: { predictions?: boolean } = {},
  ): Promise<Prediction> {
    const rec = new StepRecorder(this.gpu, "eval");
    this.model.encode(rec, images);
    this.record(rec, labels);
    rec.submit();
    return await this.read({ predictions: opts.predictions, confusion: labels !== undefined });
  }
}

/** One evaluation batch (always B images; pad a short last batch and mark its labels −1). */
export interface EvalBatch {
  /** The model's input, e.g. ImageNet-normalised [B, 3, Hin, Win]. */
  images: Float32Array;
  /** [B·H·W], −1 = ignore. */
  labels: Int32Array;
  /** RGB uint8 [B·H·W·3] at the label size (needed for the CRF). */
  rgb?: Uint8Array;
  /** Real images in this batch (the rest is padding). */
  count: number;
}

/** Scores of both probes, before and (optionally) after CRF. */
export interface EvalResult {
  cluster: Scores;
  linear: Scores;
  crf?: { cluster: Scores; linear: Scores };
  /** The {@link EvaluateOptions.extra} model's linear slot, scored with the Hungarian matching. */
  extra?: { nearest: Scores };
  images: number;
  /** Pixels counted (valid GT). */
  pixels: number;
  /** The confusion counts H[pred, gt] (n×n, row-major) of both probes, before any matching. */
  confusion?: { cluster: Float64Array; linear: Float64Array };
}

/**
 * A second model scored in the same pass (its forward recorded after the main model's) by its linear-probe
 * slot only, with the Hungarian matching: the slot's ids are clusters (e.g. the nearest k-means centroid).
 */
export interface ExtraModel {
  model: EvalModel;
  probes: ProbeParams;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  B: number;
  H: number;
  W: number;
  n: number;
  /** Shape of the model input tensor, e.g. [B, 3, 320, 320]. */
  imageShape: number[];
  crf?: CrfPool;
  /** Scored in the same pass with its own cluster probe, e.g. the k-means baseline on the raw features. */
  extra?: ExtraModel;
  /** Called after each batch with the images done so far. */
  onBatch?: (images: number) => void;
  /** Polled between batches: true stops the pass with {@link Interrupted}. */
  shouldStop?: () => boolean;
}

/**
 * Evaluates `model` with `probes` on `batches` (hp-method.md §8): one global confusion matrix per probe,
 * Hungarian matching for the cluster probe, identity for the linear probe; with `crf`, the same again on
 * CRF-refined labels (probabilities softmax(2·cos) / softmax(logits), hp-method.md §8.5). Only confusion
 * counts are read back (no label maps). With `extra`, that model's cluster probe is scored in the same
 * pass and returned as `extra`.
 * @throws Interrupted when `shouldStop` says so between batches
 */
export async function evaluate(
  gpu: Gpu,
  arena: BufferArena,
  model: EvalModel,
  probes: ProbeParams,
  batches: AsyncIterable<EvalBatch> | Iterable<EvalBatch>,
  opts: EvaluateOptions,
): Promise<EvalResult> {
  const { B, H, W, n } = opts;
  const pred = await Predictor.create(gpu, arena, model, probes, {
    B,
    H,
    W,
    n,
    probs: opts.crf !== undefined,
  });
  const extra = opts.extra
    ? await Predictor.create(gpu, arena, opts.extra.model, opts.extra.probes, {
      B,
      H,
      W,
      n,
      linearOnly: true,
      labelsFrom: pred,
    })
    : null;
  const images = arena.tensor(opts.imageShape, "f32", "eval-images");
  const conf = [new Confusion(n), new Confusion(n)];
  const crfConf = [new Confusion(n), new Confusion(n)];
  const extraConf = new Confusion(n);
  let count = 0;
  try {
    for await (const batch of batches) {
      if (opts.shouldStop?.()) throw new Interrupted("evaluation interrupted");
      images.write(batch.images);
      const rec = new StepRecorder(gpu, "eval");
      model.encode(rec, images);
      pred.record(rec, batch.labels);
      if (extra) {
        extra.model.encode(rec, images);
        extra.record(rec, batch.labels);
      }
      rec.submit();
      const r = await pred.read({ predictions: false, confusion: true });
      conf[0].addCounts(r.confusion!.subarray(0, n * n));
      conf[1].addCounts(r.confusion!.subarray(n * n));
      if (extra) {
        const c = (await extra.read({ predictions: false, confusion: true })).confusion!;
        extraConf.addCounts(c.subarray(n * n));
      }
      count += batch.count;
      if (opts.crf) {
        if (!batch.rgb) throw new TypeError("evaluate: CRF needs the batch's rgb");
        const pix = H * W, all = B * pix;
        const jobs: Promise<void>[] = [];
        for (let i = 0; i < batch.count; i++) {
          const lab = batch.labels.subarray(i * pix, (i + 1) * pix);
          const rgb = batch.rgb.slice(i * pix * 3, (i + 1) * pix * 3);
          for (let which = 0; which < 2; which++) {
            const off = (which * all + i * pix) * n;
            const probs = r.probs!.slice(off, off + pix * n);
            jobs.push(opts.crf.refine(probs, rgb.slice(), H, W, n).then((l) => crfConf[which].add(l, lab)));
          }
        }
        await Promise.all(jobs);
      }
      opts.onBatch?.(count);
    }
  } finally {
    images.destroy();
  }
  const out: EvalResult = {
    cluster: scoreConfusion(conf[0].counts, n, "cluster"),
    linear: scoreConfusion(conf[1].counts, n, "linear"),
    images: count,
    pixels: conf[0].total,
    confusion: { cluster: conf[0].counts, linear: conf[1].counts },
  };
  if (extra) {
    out.extra = { nearest: scoreConfusion(extraConf.counts, n, "cluster") };
  }
  if (opts.crf) {
    out.crf = {
      cluster: scoreConfusion(crfConf[0].counts, n, "cluster"),
      linear: scoreConfusion(crfConf[1].counts, n, "linear"),
    };
  }
  return out;
}

/**
 * Training pictures (issue 7 §3, dashboard): every picture interval the loop reads back, OUTSIDE the
 * step, the last step's f̂, ŝ̄, thresholds and LHP coefficients plus the batch images, and draws through
 * core/viz: the GHP sets of a few anchors over the batch (hp-method.md §5.2, m_ij = 1[ag] + λ·1[sp]) and
 * their LHP windows with weights (§5.5). After each evaluation {@link PredictionPictures} draws sample
 * predictions of both probes next to the ground truth (§8). Files go to `<runDir>/pictures/`, announced by
 * `picture` messages.
 * @module
 */
import type { GpuTensor } from "../gpu/buffers.ts";
import { readF32 } from "../gpu/readback.ts";
import { IMAGENET_MEAN, IMAGENET_STD } from "../image/transforms.ts";
import { Predictor } from "../eval/evaluate.ts";
import type { PictureMessage } from "../telemetry.ts";
import { ghpAnchorSets, nearestPoolMember, patchLabels } from "../viz/ghp_set.ts";
import { ghpPicture, lhpPicture, predictionPicture, type RgbImage, writePicture } from "../viz/pictures.ts";
import { HP_AUX_STRIDE } from "../model/loss.ts";
import type { HpGraph } from "./graph.ts";
import type { EvalContext } from "./validation.ts";

/** Four anchor patches spread over the grid (one per quadrant), indices p = row·S + col. */
function anchorPatches(S: number): number[] {
  const q = Math.max(1, Math.floor(S / 4));
  return [q * S + q, q * S + (S - 1 - q), (S - 1 - q) * S + q, (S - 1 - q) * S + (S - 1 - q)];
}

/** ImageNet-normalised [3, H, W] slice → uint8 RGB. */
function toRgb(x: Float32Array, offset: number, H: number, W: number): RgbImage {
  const data = new Uint8Array(H * W * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < H * W; i++) {
      const v = (x[offset + c * H * W + i] * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255;
      data[i * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return { width: W, height: H, data };
}

/** What the GHP and LHP pictures show (the dashboard's caption; the pictures carry their own legends). */
const CAPTIONS = {
  ghp: "anchors from different images with their global hidden positives over the batch: task-agnostic, " +
    "task-specific or both; crossed: another class than the anchor (labels)",
  lhp: "anchors and their 3×3 windows: LHP neighbours and their weights a_ij",
} as const;

/** Dimming of the context around a pool member's patch in {@link patchContext}. */
const CONTEXT_DIM = 0.45;

/**
 * The 3×3-patch neighbourhood of patch `pos` of image `b` in a normalised batch [B, 3, res, res] (clipped at the
 * border), with the neighbours dimmed so the patch itself stands out: how the GHP picture shows a pool member.
 */
export function patchContext(images: Float32Array, b: number, res: number, S: number, pos: number): RgbImage {
  const patch = res / S, r = Math.floor(pos / S), c = pos % S;
  const y0 = Math.max(0, (r - 1) * patch), y1 = Math.min(res, (r + 2) * patch);
  const x0 = Math.max(0, (c - 1) * patch), x1 = Math.min(res, (c + 2) * patch);
  const h = y1 - y0, w = x1 - x0, plane = res * res, base = b * 3 * plane;
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = Math.floor((y0 + y) / patch) === r && Math.floor((x0 + x) / patch) === c;
      for (let ch = 0; ch < 3; ch++) {
        const v = images[base + ch * plane + (y0 + y) * res + x0 + x] * IMAGENET_STD[ch] + IMAGENET_MEAN[ch];
        const u = 255 * v * (inside ? 1 : CONTEXT_DIM);
        data[(y * w + x) * 3 + ch] = u < 0 ? 0 : u > 255 ? 255 : Math.round(u);
      }
    }
  }
  return { data, height: h, width: w };
}

/**
 * Draws the GHP and LHP pictures of the graph's last step (batch `images`, λ `lambda`) and writes them.
 * @param poolCrops per Pool_ag row, its {@link patchContext} (null: the nearest member is drawn grey)
 * @returns the two picture messages to post
 */
export async function drawTrainingPictures(
  graph: HpGraph,
  images: Float32Array,
  lambda: number,
  step: number,
  runDir: string,
  poolCrops: RgbImage[] | null = null,
  labels: Int32Array | null = null,
): Promise<PictureMessage[]> {
  const { B, S, P, N, Df, D, K, res } = graph.dims;
  const g = graph.gpu;
  const [fhat, shat, aux, coef] = [
    await readF32(g, graph.fhat),
    await readF32(g, graph.shat),
    await readF32(g, graph.loss.aux),
    await readF32(g, graph.lhpCoef),
  ];
  const rAg = new Float32Array(N), rSp = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    rAg[i] = aux[i * HP_AUX_STRIDE];
    rSp[i] = aux[i * HP_AUX_STRIDE + 1];
  }
  const shown = Math.min(B, 6);
  const rgb = Array.from({ length: shown }, (_, b) => toRgb(images, b * 3 * res * res, res, res));
  const patches = anchorPatches(S);
  // The Pool_ag member nearest to the anchor's f̂ row is the one that sets R_i^ag (§5.1).
  const poolAg = poolCrops?.length === K ? await readF32(g, graph.pools.poolAg) : null;
  // Anchors from different images, each at another quadrant of its image.
  const ghpAnchors = patches.slice(0, Math.min(4, shown * 4)).map((p, k) => {
    const b = k % shown, i = b * P + p;
    const sets = ghpAnchorSets(i, { N, fhat, Df, shat, D, rAg, rSp, lambda });
    const nearest = poolAg ? poolCrops![nearestPoolMember(fhat, i, poolAg, K, Df).index] : undefined;
    return { image: b, patch: p, sets: sets.subarray(0, shown * P), nearest };
  });
  // The class of each patch, when the batch is labelled (unlabelled folders: −1 everywhere, no crosses).
  const classes = labels && labels.length === B * res * res
    ? patchLabels(labels.subarray(0, shown * res * res), shown, res, S)
    : null;
  const known = classes !== null && classes.some((l) => l >= 0);
  const ghp = ghpPicture({
    images: rgb,
    grid: S,
    anchors: ghpAnchors,
    patchLabels: known ? classes : undefined,
    title: `GHP positives at step ${step} (λ = ${lambda.toFixed(2)})`,
  });
  const lhp = lhpPicture({
    image: rgb[0],
    grid: S,
    anchors: patches.map((p) => ({ patch: p, weights: coef.subarray(p * 9, p * 9 + 9) })),
    title: `LHP windows of image 1 at step ${step}`,
  });
  const out: PictureMessage[] = [];
  for (const [kind, png] of [["ghp", ghp], ["lhp", lhp]] as const) {
    const file = await writePicture(runDir, kind, step, png);
    out.push({ type: "picture", step, kind, file, caption: CAPTIONS[kind] });
  }
  return out;
}

/**
 * Sample predictions (issue 7 §3): the first validation images with their ground truth, the cluster probe's
 * prediction (clusters coloured by the class the latest evaluation matched them to, hp-method.md §8.4) and
 * the linear probe's prediction, at the evaluation resolution. The predictor is built once and reused.
 */
export class PredictionPictures {
  #pred: Predictor | null = null;
  #images: GpuTensor | null = null;

  /** @param samples images shown (at most one evaluation batch) */
  constructor(readonly ctx: EvalContext, readonly samples = 3) {}

  /**
   * Draws and writes the picture for the θ and probes the context's latest evaluation saw (call it right
   * after `ctx.run`); null when nothing was evaluated yet or the split is empty.
   */
  async draw(step: number, runDir: string): Promise<PictureMessage | null> {
    const { ctx } = this;
    if (!ctx.last) return null;
    const { probes, clusterMatch } = ctx.last;
    const g = ctx.gpu, n = ctx.n, Be = ctx.cfg.eval.batch, res = ctx.cfg.eval.res;
    if (!this.#pred) {
      this.#pred = await Predictor.create(g, ctx.arena, ctx.model, probes, { B: Be, H: res, W: res, n });
      this.#images = ctx.arena.tensor([Be, 3, res, res], "f32", "prediction-picture-images");
    } else this.#pred.setProbes(probes);
    const it = ctx.batches()[Symbol.asyncIterator]();
    const first = await it.next();
    await it.return?.();
    if (first.done || first.value.count === 0) return null;
    const b = first.value;
    this.#images!.write(b.images);
    const r = await this.#pred.run(this.#images!); // maps only: the matching comes from ctx.last
    const predToClass = new Int32Array(256).fill(-1);
    clusterMatch.forEach((p, k) => p >= 0 && (predToClass[p] = k));
    const pix = res * res, shown = Math.min(this.samples, b.count);
    const samples = Array.from({ length: shown }, (_, i) => {
      const at = (x: ArrayLike<number>) => ({ data: x, height: res, width: res });
      const cluster = new Int32Array(pix);
      for (let j = 0; j < pix; j++) cluster[j] = predToClass[r.cluster[i * pix + j]];
      return {
        image: toRgb(b.images, i * 3 * pix, res, res),
        gt: at(b.labels.subarray(i * pix, (i + 1) * pix)),
        cluster: at(cluster),
        linear: at(r.linear.subarray(i * pix, (i + 1) * pix)),
      };
    });
    const png = predictionPicture({
      samples,
      numClasses: n,
      classNames: ctx.ds.classNames,
      title: `Predictions at step ${step}`,
    });
    const file = await writePicture(runDir, "pred", step, png);
    return {
      type: "picture",
      step,
      kind: "pred",
      file,
      caption: "image | ground truth | cluster probe | linear probe (clusters matched on the validation set)",
    };
  }
}

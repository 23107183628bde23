/**
 * Training pictures (issue 5 item 3, dashboard): every picture interval the loop reads back, OUTSIDE the
 * step, the last step's f̂, ŝ̄, thresholds and LHP coefficients plus the batch images, and draws through
 * core/viz: the GHP sets of a few anchors over the batch (hp-method.md §5.2, m_ij = 1[ag] + λ·1[sp]) and
 * their LHP windows with weights (§5.5). Files go to `<runDir>/pictures/`, announced by `picture` messages.
 * @module
 */
import { readF32 } from "../gpu/readback.ts";
import { IMAGENET_MEAN, IMAGENET_STD } from "../data/transforms.ts";
import type { PictureMessage } from "../telemetry.ts";
import { ghpAnchorWeights } from "../viz/ghp_set.ts";
import { ghpPicture, lhpPicture, type RgbImage, writePicture } from "../viz/pictures.ts";
import { HP_AUX_STRIDE } from "./loss.ts";
import type { HpGraph } from "./trainer.ts";

/** Anchors drawn per picture (patch indices in image 0, spread over the grid). */
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

/**
 * Draws the GHP and LHP pictures of the graph's last step (batch `images`, λ `lambda`) and writes them.
 * @returns the two picture messages to post
 */
export async function drawTrainingPictures(
  graph: HpGraph,
  images: Float32Array,
  lambda: number,
  step: number,
  runDir: string,
): Promise<PictureMessage[]> {
  const { B, S, P, N, Df, D, res } = graph.dims;
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
  const ghpAnchors = patches.slice(0, 3).map((p) => {
    const m = ghpAnchorWeights(p, { N, fhat, Df, shat, D, rAg, rSp, lambda });
    return { image: 0, patch: p, positives: m.subarray(0, shown * P) };
  });
  const ghp = ghpPicture({ images: rgb, grid: S, anchors: ghpAnchors });
  const lhp = lhpPicture({
    image: rgb[0],
    grid: S,
    anchors: patches.map((p) => ({ patch: p, weights: coef.subarray(p * 9, p * 9 + 9) })),
  });
  const out: PictureMessage[] = [];
  for (const [kind, png] of [["ghp", ghp], ["lhp", lhp]] as const) {
    const file = await writePicture(runDir, kind, step, png);
    out.push({ type: "picture", step, kind, file, caption: `step ${step}` });
  }
  return out;
}

/**
 * Training pictures for the dashboard (issue 7 §3, issue 14 §4), drawn from plain arrays so the trainer only
 * has to read back indices and masks: GHP sets over the batch (paper Fig. 5; core/viz/ghp_picture.ts), LHP
 * windows with their weights (Fig. 1b; core/viz/lhp_picture.ts) and sample predictions next to ground truth
 * with a class colour key (here). Each picture carries its title, legend and headers drawn in
 * (core/viz/annotate.ts), so a saved PNG explains itself. Every function returns PNG bytes;
 * {@link writePicture} stores them atomically under `<runDir>/pictures/`.
 *
 * Shapes use hp-method.md §0 symbols: B images, S patches per side, P = S² patches per image, anchors index
 * patches p = row·S + col.
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { checkRgb, Raster, type Rgb, type RgbImage } from "./raster.ts";
import {
  drawLegend,
  drawTitle,
  fitText,
  legendHeight,
  type LegendItem,
  MUTED_INK,
  PAD,
  TEXT_SCALE,
  titleHeight,
} from "./annotate.ts";
import { drawText, textHeight } from "./font.ts";
import { GAP } from "./tiles.ts";

export type { Rgb, RgbImage };
export { ANCHOR_RGB, DIM_ALPHA, GAP, patchRect } from "./tiles.ts";
export {
  BOTH_RGB,
  type GhpAnchor,
  ghpLayout,
  ghpPicture,
  type GhpPictureInput,
  ghpRowStats,
  TA_RGB,
  TASK_AGNOSTIC,
  TASK_SPECIFIC,
  TINT_ALPHA,
  TS_RGB,
  WRONG_RGB,
} from "./ghp_picture.ts";
export {
  LHP_RGB,
  type LhpAnchor,
  lhpLayout,
  lhpPicture,
  type LhpPictureInput,
  weightText,
} from "./lhp_picture.ts";

const BLACK: Rgb = [0, 0, 0];

/** A label map: row-major H×W class indices; negative values or values ≥ K mean "ignore" (drawn black). */
export interface LabelMap {
  data: ArrayLike<number>;
  height: number;
  width: number;
}

/** Deterministic palette of K visually distinct colours (golden-angle hues, alternating lightness). */
export function makePalette(k: number): Rgb[] {
  const out: Rgb[] = [];
  for (let i = 0; i < k; i++) {
    const h = (i * 0.618033988749895) % 1;
    const s = i % 2 === 0 ? 0.75 : 0.55;
    const v = i % 3 === 2 ? 0.7 : 0.95;
    out.push(hsvToRgb(h, s, v));
  }
  return out;
}

function hsvToRgb(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6), f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** Paints a label map into a tile with nearest-neighbour scaling. */
function paintLabels(
  r: Raster,
  m: LabelMap,
  x: number,
  y: number,
  size: number,
  palette: Rgb[],
  what: string,
): void {
  if (m.data.length !== m.height * m.width) {
    throw new TypeError(
      `${what}: label map ${m.height}×${m.width} needs ${m.height * m.width} values, got ${m.data.length}`,
    );
  }
  for (let j = 0; j < size; j++) {
    const sr = Math.min(m.height - 1, Math.floor(((j + 0.5) * m.height) / size));
    for (let i = 0; i < size; i++) {
      const sc = Math.min(m.width - 1, Math.floor(((i + 0.5) * m.width) / size));
      const l = m.data[sr * m.width + sc];
      const c = l >= 0 && l < palette.length ? palette[l] : BLACK;
      const o = ((y + j) * r.width + x + i) * 4;
      r.px[o] = c[0];
      r.px[o + 1] = c[1];
      r.px[o + 2] = c[2];
      r.px[o + 3] = 255;
    }
  }
}

/** One sample of {@link predictionPicture}. */
export interface PredictionSample {
  image: RgbImage;
  gt: LabelMap;
  /** Cluster-probe prediction, already mapped to ground-truth classes (Hungarian matching). */
  cluster: LabelMap;
  /** Linear-probe prediction. */
  linear: LabelMap;
}

/** Input of {@link predictionPicture}. */
export interface PredictionPictureInput {
  samples: PredictionSample[];
  /** K, number of classes. */
  numClasses: number;
  /** Class names for the colour key (default "class k"). */
  classNames?: string[];
  /** Colours per class (default {@link makePalette}). */
  palette?: Rgb[];
  thumb?: number;
  /** Title line (default "Predictions"). */
  title?: string;
}

/** Classes that occur in any sample's ground truth or predictions, ascending. */
export function classesShown(samples: PredictionSample[], k: number): number[] {
  const seen = new Uint8Array(k);
  for (const s of samples) {
    for (const m of [s.gt, s.cluster, s.linear]) {
      for (let i = 0; i < m.data.length; i++) {
        const l = m.data[i];
        if (l >= 0 && l < k) seen[l] = 1;
      }
    }
  }
  return [...seen.keys()].filter((c) => seen[c]);
}

function keyItems(input: PredictionPictureInput, palette: Rgb[]): LegendItem[] {
  const items = classesShown(input.samples, input.numClasses).map((c) => ({
    label: input.classNames?.[c] || `class ${c}`,
    fill: palette[c],
  }));
  items.push({ label: "unlabelled / ignored", fill: BLACK });
  return items;
}

/** Where the rows of a prediction picture start. */
export function predictionLayout(
  input: PredictionPictureInput,
): { width: number; height: number; rowY(k: number): number } {
  const T = input.thumb ?? 160, n = input.samples.length;
  const width = Math.max(4 * T + 3 * GAP, 480);
  const top = titleHeight() + textHeight(TEXT_SCALE) + 2 * PAD;
  const palette = input.palette ?? makePalette(input.numClasses);
  const rows = n * T + (n - 1) * GAP;
  return {
    width,
    height: top + rows + PAD + legendHeight(keyItems(input, palette), width),
    rowY: (k) => top + k * (T + GAP),
  };
}

/**
 * One row per sample: image | ground truth | cluster prediction | linear prediction, under a title and
 * column headers, with a colour key naming every class that appears.
 */
export function predictionPicture(input: PredictionPictureInput): Uint8Array {
  const T = input.thumb ?? 160;
  const n = input.samples.length;
  if (n === 0) throw new RangeError("predictionPicture: needs at least one sample");
  const palette = input.palette ?? makePalette(input.numClasses);
  if (palette.length < input.numClasses) {
    throw new RangeError(
      `predictionPicture: palette has ${palette.length} colours for K = ${input.numClasses}`,
    );
  }
  const L = predictionLayout(input);
  const r = new Raster(L.width, L.height);
  const y = drawTitle(r, 0, 0, input.title ?? "Predictions", L.width);
  ["image", "ground truth", "cluster probe", "linear probe"].forEach((h, c) =>
    drawText(r, c * (T + GAP) + 2, y + PAD, fitText(h, T - 4, TEXT_SCALE), MUTED_INK, TEXT_SCALE)
  );
  input.samples.forEach((s, k) => {
    checkRgb(s.image, `predictionPicture sample ${k} image`);
    const y = L.rowY(k);
    r.blit(s.image, 0, y, T, T);
    paintLabels(r, s.gt, T + GAP, y, T, palette, `predictionPicture sample ${k} gt`);
    paintLabels(r, s.cluster, 2 * (T + GAP), y, T, palette, `predictionPicture sample ${k} cluster`);
    paintLabels(r, s.linear, 3 * (T + GAP), y, T, palette, `predictionPicture sample ${k} linear`);
  });
  drawLegend(r, 0, L.rowY(n - 1) + T + PAD, keyItems(input, palette), L.width);
  return r.png();
}

/**
 * Writes a picture atomically to `<runDir>/pictures/<kind>_<step>.png` and returns the path relative to the
 * run directory (what a `picture` telemetry message carries).
 */
export async function writePicture(
  runDir: string,
  kind: string,
  step: number,
  png: Uint8Array,
): Promise<string> {
  if (!/^[a-z0-9_-]+$/i.test(kind)) throw new TypeError(`writePicture: bad picture kind "${kind}"`);
  const dir = `${runDir.replace(/\/+$/, "")}/pictures`;
  await Deno.mkdir(dir, { recursive: true });
  const file = `pictures/${kind}_${String(step).padStart(7, "0")}.png`;
  await writeFileAtomic(`${runDir.replace(/\/+$/, "")}/${file}`, png);
  return file;
}

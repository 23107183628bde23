/**
 * Training pictures for the dashboard (issue 7 §3), drawn from plain arrays so the trainer only has to read
 * back indices and masks: GHP sets over the batch (paper Fig. 5), LHP neighbours with their weights (Fig. 1b)
 * and sample predictions next to ground truth. Every function returns PNG bytes; {@link writePicture} stores
 * them atomically under `<runDir>/pictures/`.
 *
 * Shapes use hp-method.md §0 symbols: B images, S patches per side, P = S² patches per image, anchors index
 * patches p = row·S + col. Colours: anchor red, GHP positives kept bright with a green tint (others dimmed),
 * LHP neighbours yellow with opacity ∝ weight plus a bar per window cell.
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { checkRgb, Raster, type Rgb, type RgbImage } from "./raster.ts";

export type { Rgb, RgbImage };

/** Anchor outline colour. */
export const ANCHOR_RGB: Rgb = [230, 30, 30];
/** Tint of GHP positives. */
export const POSITIVE_RGB: Rgb = [40, 220, 80];
/** Colour of LHP neighbour cells and bars. */
export const LHP_RGB: Rgb = [255, 200, 0];
/** How much non-positive patches are darkened (blend towards black). */
export const DIM_ALPHA = 0.6;
/** Strongest tint of a positive (the largest weight); a weight w gets POSITIVE_ALPHA·w/max. */
export const POSITIVE_ALPHA = 0.35;
/** Gap between tiles, in pixels. */
export const GAP = 4;

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [200, 200, 200];

/** Cell of patch `p` on a `size`-pixel tile of an S×S grid: [x, y, w, h] in tile pixels. */
export function patchRect(p: number, grid: number, size: number): [number, number, number, number] {
  const r = Math.floor(p / grid), c = p % grid;
  const x0 = Math.round((c * size) / grid), x1 = Math.round(((c + 1) * size) / grid);
  const y0 = Math.round((r * size) / grid), y1 = Math.round(((r + 1) * size) / grid);
  return [x0, y0, x1 - x0, y1 - y0];
}

function checkPatch(p: number, grid: number, what: string): void {
  if (!Number.isInteger(p) || p < 0 || p >= grid * grid) {
    throw new RangeError(`${what}: patch index ${p} is outside 0..${grid * grid - 1} (S = ${grid})`);
  }
}

/** One anchor of {@link ghpPicture}. */
export interface GhpAnchor {
  /** Batch index b of the anchor's image. */
  image: number;
  /** Patch index p of the anchor in its image. */
  patch: number;
  /**
   * GHP set over the batch, length B·P (index b·P + p): 0 = not a positive, otherwise the positive's weight
   * (e.g. m_ij = 1, λ or 1+λ from hp-method.md §5.3; booleans count as 1).
   */
  positives: ArrayLike<number | boolean>;
  /** Crop of the anchor's nearest reference-pool member, when the pool keeps where its entries came from. */
  nearest?: RgbImage;
}

/** Input of {@link ghpPicture}. */
export interface GhpPictureInput {
  /** The B batch images (uint8 RGB, any common size). */
  images: RgbImage[];
  /** S, patches per side. */
  grid: number;
  anchors: GhpAnchor[];
  /** Tile size in pixels (default 112). */
  thumb?: number;
}

/**
 * One row per anchor: its image with the anchor outlined, its nearest pool member (grey when unknown), then
 * every batch image with the anchor's GHP positives bright and green-tinted and everything else dimmed.
 */
export function ghpPicture(input: GhpPictureInput): Uint8Array {
  const { images, grid, anchors } = input;
  const T = input.thumb ?? 112;
  const B = images.length, P = grid * grid;
  if (B === 0 || anchors.length === 0) {
    throw new RangeError("ghpPicture: needs at least one image and one anchor");
  }
  images.forEach((im, b) => checkRgb(im, `ghpPicture image ${b}`));
  const cols = B + 2;
  const r = new Raster(cols * T + (cols - 1) * GAP, anchors.length * T + (anchors.length - 1) * GAP);
  anchors.forEach((a, row) => {
    if (!Number.isInteger(a.image) || a.image < 0 || a.image >= B) {
      throw new RangeError(`ghpPicture anchor ${row}: image ${a.image} is outside 0..${B - 1}`);
    }
    checkPatch(a.patch, grid, `ghpPicture anchor ${row}`);
    if (a.positives.length !== B * P) {
      throw new TypeError(
        `ghpPicture anchor ${row}: positives has ${a.positives.length} entries, need B·P = ${B * P}`,
      );
    }
    const y = row * (T + GAP);
    r.blit(images[a.image], 0, y, T, T);
    const [ax, ay, aw, ah] = patchRect(a.patch, grid, T);
    r.outline(ax, y + ay, aw, ah, ANCHOR_RGB, 2);
    if (a.nearest) {
      checkRgb(a.nearest, `ghpPicture anchor ${row} nearest`);
      r.blit(a.nearest, T + GAP, y, T, T);
    } else r.fill(T + GAP, y, T, T, GREY);
    let wmax = 0;
    for (let i = 0; i < B * P; i++) wmax = Math.max(wmax, Number(a.positives[i]));
    for (let b = 0; b < B; b++) {
      const x = (b + 2) * (T + GAP);
      r.blit(images[b], x, y, T, T);
      for (let p = 0; p < P; p++) {
        const w = Number(a.positives[b * P + p]);
        const [px, py, pw, ph] = patchRect(p, grid, T);
        if (w > 0) r.blend(x + px, y + py, pw, ph, POSITIVE_RGB, (POSITIVE_ALPHA * w) / wmax);
        else r.blend(x + px, y + py, pw, ph, BLACK, DIM_ALPHA);
      }
      if (b === a.image) r.outline(x + ax, y + ay, aw, ah, ANCHOR_RGB, 2);
    }
  });
  return r.png();
}

/** One anchor of {@link lhpPicture}. */
export interface LhpAnchor {
  /** Patch index p of the anchor. */
  patch: number;
  /**
   * Nine weights over the 3×3 window centred on the anchor, row-major (index 4 is the anchor itself):
   * a_ij after the row-mean threshold, 0 where j is not in L_i or lies outside the image.
   */
  weights: ArrayLike<number>;
}

/** Input of {@link lhpPicture}. */
export interface LhpPictureInput {
  image: RgbImage;
  /** S, patches per side. */
  grid: number;
  anchors: LhpAnchor[];
  /** Tile size in pixels (default 144; a multiple of 3 keeps window cells equal). */
  tile?: number;
}

/**
 * First tile: the whole image with every anchor outlined. Then one tile per anchor: its 3×3 window enlarged,
 * LHP neighbours tinted yellow with opacity ∝ weight (others dimmed, cells outside the image grey), the
 * anchor outlined red; under it, one bar per window cell with height ∝ weight.
 */
export function lhpPicture(input: LhpPictureInput): Uint8Array {
  const { image, grid, anchors } = input;
  const T = input.tile ?? 144;
  checkRgb(image, "lhpPicture image");
  const barH = Math.round(T / 3);
  const cols = anchors.length + 1;
  const r = new Raster(cols * T + (cols - 1) * GAP, T + GAP + barH);
  r.blit(image, 0, 0, T, T);
  const cell = T / 3;
  const patchW = image.width / grid, patchH = image.height / grid;
  anchors.forEach((a, k) => {
    checkPatch(a.patch, grid, `lhpPicture anchor ${k}`);
    if (a.weights.length !== 9) {
      throw new TypeError(
        `lhpPicture anchor ${k}: weights has ${a.weights.length} entries, need 9 (3×3 window)`,
      );
    }
    const [ax, ay, aw, ah] = patchRect(a.patch, grid, T);
    r.outline(ax, ay, aw, ah, ANCHOR_RGB, 2);
    const x = (k + 1) * (T + GAP);
    const row = Math.floor(a.patch / grid), col = a.patch % grid;
    let wmax = 0;
    for (let i = 0; i < 9; i++) wmax = Math.max(wmax, a.weights[i]);
    for (let i = 0; i < 9; i++) {
      const rr = row + Math.floor(i / 3) - 1, cc = col + (i % 3) - 1;
      const cx = x + Math.round((i % 3) * cell), cy = Math.round(Math.floor(i / 3) * cell);
      const cw = Math.round(((i % 3) + 1) * cell) - Math.round((i % 3) * cell);
      const ch = Math.round((Math.floor(i / 3) + 1) * cell) - Math.round(Math.floor(i / 3) * cell);
      if (rr < 0 || rr >= grid || cc < 0 || cc >= grid) {
        r.fill(cx, cy, cw, ch, GREY);
        continue;
      }
      r.blit(
        image,
        cx,
        cy,
        cw,
        ch,
        Math.floor(cc * patchW),
        Math.floor(rr * patchH),
        Math.max(1, Math.round(patchW)),
        Math.max(1, Math.round(patchH)),
      );
      const w = a.weights[i];
      if (w > 0 && wmax > 0) r.blend(cx, cy, cw, ch, LHP_RGB, 0.15 + (0.45 * w) / wmax);
      else r.blend(cx, cy, cw, ch, BLACK, DIM_ALPHA);
      if (i === 4) r.outline(cx, cy, cw, ch, ANCHOR_RGB, 3);
      const bw = Math.floor(T / 9);
      const bh = wmax > 0 ? Math.round((barH * Math.max(0, w)) / wmax) : 0;
      r.fill(x + i * bw + 1, T + GAP + barH - bh, bw - 2, bh, i === 4 ? ANCHOR_RGB : LHP_RGB);
    }
  });
  return r.png();
}

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
  /** Colours per class (default {@link makePalette}). */
  palette?: Rgb[];
  thumb?: number;
}

/** One row per sample: image | ground truth | cluster prediction | linear prediction. */
export function predictionPicture(input: PredictionPictureInput): Uint8Array {
  const T = input.thumb ?? 112;
  const n = input.samples.length;
  if (n === 0) throw new RangeError("predictionPicture: needs at least one sample");
  const palette = input.palette ?? makePalette(input.numClasses);
  if (palette.length < input.numClasses) {
    throw new RangeError(
      `predictionPicture: palette has ${palette.length} colours for K = ${input.numClasses}`,
    );
  }
  const r = new Raster(4 * T + 3 * GAP, n * T + (n - 1) * GAP);
  input.samples.forEach((s, k) => {
    checkRgb(s.image, `predictionPicture sample ${k} image`);
    const y = k * (T + GAP);
    r.blit(s.image, 0, y, T, T);
    paintLabels(r, s.gt, T + GAP, y, T, palette, `predictionPicture sample ${k} gt`);
    paintLabels(r, s.cluster, 2 * (T + GAP), y, T, palette, `predictionPicture sample ${k} cluster`);
    paintLabels(r, s.linear, 3 * (T + GAP), y, T, palette, `predictionPicture sample ${k} linear`);
  });
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

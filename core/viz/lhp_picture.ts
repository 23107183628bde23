/**
 * The LHP picture (issue 7 §3, issue 14 §4; paper Fig. 1b, hp-method.md §5.5): the image with a few anchors
 * outlined and numbered, then each anchor's 3×3 window enlarged as the 3×3 grid it is — neighbours in L_i
 * tinted yellow with strength ∝ their weight a_ij and the weight written in the cell, members dropped by the
 * row-mean threshold dimmed, cells outside the image grey, the anchor's own cell outlined red. A title and a
 * legend are drawn in.
 * @module
 */
import { checkRgb, Raster, type Rgb, type RgbImage } from "./raster.ts";
import {
  drawBadge,
  drawLegend,
  drawTitle,
  fitText,
  INK,
  legendHeight,
  type LegendItem,
  MUTED_INK,
  PAD,
  TEXT_SCALE,
  titleHeight,
} from "./annotate.ts";
import { drawText, textHeight, textWidth } from "./font.ts";
import { ANCHOR_RGB, DIM_ALPHA, GAP, patchRect } from "./tiles.ts";

/** Colour of LHP neighbour cells. */
export const LHP_RGB: Rgb = [255, 200, 0];
/** Tint of a neighbour: LHP_MIN_ALPHA + LHP_SPAN_ALPHA · w / max w. */
export const LHP_MIN_ALPHA = 0.15;
export const LHP_SPAN_ALPHA = 0.45;

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [200, 200, 200];
const WHITE: Rgb = [255, 255, 255];

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
  /** Tile size in pixels (default 192; a multiple of 3 keeps window cells equal). */
  tile?: number;
  /** Title line (default "LHP windows"). */
  title?: string;
}

const LEGEND: LegendItem[] = [
  { label: "anchor (numbered)", outline: ANCHOR_RGB },
  {
    label: "neighbour in L_i: tint and number = weight a_ij",
    fill: LHP_RGB,
    alpha: LHP_MIN_ALPHA + LHP_SPAN_ALPHA,
  },
  { label: "below the row mean (dropped)", fill: BLACK, alpha: DIM_ALPHA },
  { label: "outside the image", fill: GREY },
];

/** Where the tiles of an LHP picture lie. */
export function lhpLayout(
  input: LhpPictureInput,
): { width: number; height: number; tileX(c: number): number; tileY: number } {
  const T = input.tile ?? 192, cols = input.anchors.length + 1;
  const width = Math.max(cols * T + (cols - 1) * GAP, 480);
  const top = titleHeight() + legendHeight(LEGEND, width) + textHeight(TEXT_SCALE) + 2 * PAD;
  return { width, height: top + T, tileX: (c) => c * (T + GAP), tileY: top };
}

/** Weight as written in a cell: two decimals without the leading zero below 1 (".12"). */
export function weightText(w: number): string {
  const s = w.toFixed(2);
  return s.startsWith("0.") ? s.slice(1) : s;
}

/** Draws the LHP picture; see the module comment. Returns PNG bytes. */
export function lhpPicture(input: LhpPictureInput): Uint8Array {
  const { image, grid, anchors } = input;
  const T = input.tile ?? 192;
  checkRgb(image, "lhpPicture image");
  const L = lhpLayout(input);
  const r = new Raster(L.width, L.height);
  let y = drawTitle(r, 0, 0, input.title ?? "LHP windows", L.width);
  y += drawLegend(r, 0, y, LEGEND, L.width);
  const heads = ["anchors", ...anchors.map((_, k) => `window ${k + 1}`)];
  heads.forEach((h, c) =>
    drawText(r, L.tileX(c) + 2, y + PAD, fitText(h, T - 4, TEXT_SCALE), MUTED_INK, TEXT_SCALE)
  );
  const ty = L.tileY;
  r.blit(image, 0, ty, T, T);
  const cell = T / 3;
  const patchW = image.width / grid, patchH = image.height / grid;
  anchors.forEach((a, k) => {
    if (!Number.isInteger(a.patch) || a.patch < 0 || a.patch >= grid * grid) {
      throw new RangeError(
        `lhpPicture anchor ${k}: patch index ${a.patch} is outside 0..${grid * grid - 1} (S = ${grid})`,
      );
    }
    if (a.weights.length !== 9) {
      throw new TypeError(
        `lhpPicture anchor ${k}: weights has ${a.weights.length} entries, need 9 (3×3 window)`,
      );
    }
    const n = String(k + 1);
    const [ax, ay, aw, ah] = patchRect(a.patch, grid, T);
    r.outline(ax, ty + ay, aw, ah, ANCHOR_RGB, 2);
    drawBadge(r, Math.min(ax + aw + 1, T - 16), ty + Math.max(0, ay - 2), n, ANCHOR_RGB, WHITE, 1);
    const x = L.tileX(k + 1);
    const row = Math.floor(a.patch / grid), col = a.patch % grid;
    let wmax = 0;
    for (let i = 0; i < 9; i++) wmax = Math.max(wmax, a.weights[i]);
    for (let i = 0; i < 9; i++) {
      const rr = row + Math.floor(i / 3) - 1, cc = col + (i % 3) - 1;
      const cx = x + Math.round((i % 3) * cell), cy = ty + Math.round(Math.floor(i / 3) * cell);
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
      if (w > 0 && wmax > 0) {
        r.blend(cx, cy, cw, ch, LHP_RGB, LHP_MIN_ALPHA + (LHP_SPAN_ALPHA * w) / wmax);
        const t = weightText(w), scale = textWidth(t, TEXT_SCALE) + 6 <= cw - 4 ? TEXT_SCALE : 1;
        const bw = textWidth(t, scale) + 6, bh = textHeight(scale) + 6;
        drawBadge(r, cx + Math.round((cw - bw) / 2), cy + ch - bh - 3, t, WHITE, INK, scale);
      } else r.blend(cx, cy, cw, ch, BLACK, DIM_ALPHA);
      if (i === 4) r.outline(cx, cy, cw, ch, ANCHOR_RGB, 3);
    }
    drawBadge(r, x + 2, ty + 2, n, ANCHOR_RGB);
  });
  return r.png();
}

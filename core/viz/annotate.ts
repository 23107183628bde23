/**
 * Headers, legends and marks drawn into the training pictures (issue 14 §4), on top of core/viz/raster.ts
 * with the bitmap font of core/viz/font.ts: a title line, a wrapped row of legend entries (colour swatch or
 * mark + label), numbered badges for anchors, and a diagonal cross for a wrong positive.
 * @module
 */
import { drawText, textHeight, textWidth } from "./font.ts";
import type { Raster, Rgb } from "./raster.ts";

/** Text colour on the white picture background. */
export const INK: Rgb = [30, 34, 40];
/** Secondary text colour. */
export const MUTED_INK: Rgb = [95, 105, 117];
/** Text scale of headers and legends (10×14-pixel characters). */
export const TEXT_SCALE = 2;
/** Padding around text blocks, in pixels. */
export const PAD = 6;

/** One legend entry: a filled swatch, an outlined box, or a cross, and its label. */
export interface LegendItem {
  label: string;
  fill?: Rgb;
  /** Swatch fill strength (default 1). */
  alpha?: number;
  outline?: Rgb;
  cross?: Rgb;
}

const SWATCH = 14;

function itemWidth(it: LegendItem, scale: number): number {
  return SWATCH + 6 + textWidth(it.label, scale) + 16;
}

/** Lines the items wrap into within `width` pixels. */
function wrap(items: LegendItem[], width: number, scale: number): LegendItem[][] {
  const lines: LegendItem[][] = [];
  let line: LegendItem[] = [], used = 0;
  for (const it of items) {
    const w = itemWidth(it, scale);
    if (line.length > 0 && used + w > width) {
      lines.push(line);
      line = [];
      used = 0;
    }
    line.push(it);
    used += w;
  }
  if (line.length > 0) lines.push(line);
  return lines;
}

/** Height of the legend block for `items` wrapped within `width` (0 without items). */
export function legendHeight(items: LegendItem[], width: number, scale = TEXT_SCALE): number {
  const n = wrap(items, width - 2 * PAD, scale).length;
  return n === 0 ? 0 : n * (Math.max(SWATCH, textHeight(scale)) + 6) + PAD;
}

/** Draws the legend at (x, y) wrapped within `width`; returns its height. */
export function drawLegend(
  r: Raster,
  x: number,
  y: number,
  items: LegendItem[],
  width: number,
  scale = TEXT_SCALE,
): number {
  const lineH = Math.max(SWATCH, textHeight(scale)) + 6;
  let cy = y + PAD / 2;
  for (const line of wrap(items, width - 2 * PAD, scale)) {
    let cx = x + PAD;
    for (const it of line) {
      const sy = cy + Math.round((lineH - 6 - SWATCH) / 2);
      r.fill(cx, sy, SWATCH, SWATCH, [235, 237, 240]);
      if (it.fill) r.blend(cx, sy, SWATCH, SWATCH, it.fill, it.alpha ?? 1);
      if (it.outline) r.outline(cx, sy, SWATCH, SWATCH, it.outline, 2);
      if (it.cross) drawCross(r, cx, sy, SWATCH, SWATCH, it.cross, 2);
      drawText(
        r,
        cx + SWATCH + 6,
        cy + Math.round((lineH - 6 - textHeight(scale)) / 2),
        it.label,
        INK,
        scale,
      );
      cx += itemWidth(it, scale);
    }
    cy += lineH;
  }
  return legendHeight(items, width, scale);
}

/** Height of a title line. */
export function titleHeight(scale = TEXT_SCALE): number {
  return textHeight(scale) + 2 * PAD;
}

/** Draws a title line at (x, y); long titles are cut with "..." to fit `width`. */
export function drawTitle(
  r: Raster,
  x: number,
  y: number,
  text: string,
  width: number,
  scale = TEXT_SCALE,
): number {
  drawText(r, x + PAD, y + PAD, fitText(text, width - 2 * PAD, scale), INK, scale);
  return titleHeight(scale);
}

/** `text` shortened with "..." to fit `width` pixels at `scale`. */
export function fitText(text: string, width: number, scale = 1): string {
  if (textWidth(text, scale) <= width) return text;
  let t = text;
  while (t.length > 0 && textWidth(t + "...", scale) > width) t = t.slice(0, -1);
  return t + "...";
}

/** Two diagonals across a rectangle, `t` pixels thick. */
export function drawCross(r: Raster, x: number, y: number, w: number, h: number, c: Rgb, t = 2): void {
  const n = Math.max(w, h);
  for (let i = 0; i < n; i++) {
    const px = x + Math.round((i * (w - t)) / Math.max(1, n - 1));
    const py = y + Math.round((i * (h - t)) / Math.max(1, n - 1));
    const qy = y + h - t - Math.round((i * (h - t)) / Math.max(1, n - 1));
    r.fill(px, py, t, t, c);
    r.fill(px, qy, t, t, c);
  }
}

/** A filled badge with a number (anchor labels), its top-left corner at (x, y); returns its width. */
export function drawBadge(
  r: Raster,
  x: number,
  y: number,
  text: string,
  bg: Rgb,
  fg: Rgb = [255, 255, 255],
  scale = TEXT_SCALE,
): number {
  const w = textWidth(text, scale) + 6, h = textHeight(scale) + 6;
  r.fill(x, y, w, h, bg);
  drawText(r, x + 3, y + 3, text, fg, scale);
  return w;
}

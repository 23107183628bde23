/**
 * Shared geometry and colours of the training pictures (core/viz): where patch p of an S×S grid lies on a
 * tile, the gap between tiles, the anchor outline and how much non-positive patches are darkened.
 * @module
 */
import type { Rgb } from "./raster.ts";

/** Anchor outline colour. */
export const ANCHOR_RGB: Rgb = [230, 30, 30];
/** How much non-positive patches are darkened (blend towards black). */
export const DIM_ALPHA = 0.6;
/** Gap between tiles, in pixels. */
export const GAP = 4;

/** Cell of patch `p` on a `size`-pixel tile of an S×S grid: [x, y, w, h] in tile pixels. */
export function patchRect(p: number, grid: number, size: number): [number, number, number, number] {
  const r = Math.floor(p / grid), c = p % grid;
  const x0 = Math.round((c * size) / grid), x1 = Math.round(((c + 1) * size) / grid);
  const y0 = Math.round((r * size) / grid), y1 = Math.round(((r + 1) * size) / grid);
  return [x0, y0, x1 - x0, y1 - y0];
}

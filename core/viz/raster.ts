/**
 * A small RGBA raster for the training pictures (issue 7 §3): nearest-neighbour blits of uint8 RGB images,
 * tinted rectangles and outlines, and PNG encoding through our own encoder (core/image/png.ts). The bitmap is
 * a plain Uint8ClampedArray written in place, so a picture of a few hundred thousand pixels takes
 * milliseconds on the trainer's thread.
 *
 * Why not imagescript: its main module loads a native codec library through FFI, so drawing pictures would
 * need --allow-ffi, which the least-privilege `train` task does not grant (issue 7 §6).
 * @module
 */
import { encodePng } from "../image/png.ts";

/** An RGB colour, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** A uint8 RGB image, row-major H×W×3 (the layout datasets yield before normalisation). */
export interface RgbImage {
  data: Uint8Array | Uint8ClampedArray;
  height: number;
  width: number;
}

/** Checks that `img.data` holds H×W×3 bytes; the error names `what` and both sizes. */
export function checkRgb(img: RgbImage, what: string): void {
  const want = img.height * img.width * 3;
  if (!(img.height > 0 && img.width > 0) || img.data.length !== want) {
    throw new TypeError(
      `${what}: RGB image ${img.height}×${img.width} needs ${want} bytes, got ${img.data.length}`,
    );
  }
}

/** RGBA canvas, row-major W×H×4. Coordinates are 0-based; drawing clips to the canvas. */
export class Raster {
  /** The bitmap: 4 bytes per pixel (R, G, B, A), row-major. */
  readonly px: Uint8ClampedArray;

  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new RangeError(`Raster: bad size ${width}×${height}`);
    }
    this.px = new Uint8ClampedArray(width * height * 4);
    this.fill(0, 0, width, height, background);
  }

  /** Fills a rectangle with an opaque colour. */
  fill(x: number, y: number, w: number, h: number, c: Rgb): void {
    this.blend(x, y, w, h, c, 1);
  }

  /** Mixes `c` into a rectangle with weight `alpha` (0 keeps the pixels, 1 paints `c`). */
  blend(x: number, y: number, w: number, h: number, c: Rgb, alpha: number): void {
    const x0 = Math.max(0, Math.floor(x)), y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w)), y1 = Math.min(this.height, Math.floor(y + h));
    const a = Math.min(1, Math.max(0, alpha));
    for (let yy = y0; yy < y1; yy++) {
      let o = (yy * this.width + x0) * 4;
      for (let xx = x0; xx < x1; xx++, o += 4) {
        this.px[o] = this.px[o] * (1 - a) + c[0] * a;
        this.px[o + 1] = this.px[o + 1] * (1 - a) + c[1] * a;
        this.px[o + 2] = this.px[o + 2] * (1 - a) + c[2] * a;
        this.px[o + 3] = 255;
      }
    }
  }

  /** Draws a rectangle outline `t` pixels thick, inside the rectangle's bounds. */
  outline(x: number, y: number, w: number, h: number, c: Rgb, t = 2): void {
    this.fill(x, y, w, t, c);
    this.fill(x, y + h - t, w, t, c);
    this.fill(x, y, t, h, c);
    this.fill(x + w - t, y, t, h, c);
  }

  /**
   * Copies the source rectangle (sx, sy, sw, sh) of an RGB image into (dx, dy, dw, dh) with nearest-neighbour
   * scaling. Destination pixel (i, j) samples source column sx + floor((i + 0.5)·sw/dw).
   */
  blit(
    src: RgbImage,
    dx: number,
    dy: number,
    dw: number,
    dh: number,
    sx = 0,
    sy = 0,
    sw = src.width,
    sh = src.height,
  ): void {
    for (let j = 0; j < dh; j++) {
      const yy = dy + j;
      if (yy < 0 || yy >= this.height) continue;
      const srow = Math.min(src.height - 1, sy + Math.floor(((j + 0.5) * sh) / dh));
      for (let i = 0; i < dw; i++) {
        const xx = dx + i;
        if (xx < 0 || xx >= this.width) continue;
        const scol = Math.min(src.width - 1, sx + Math.floor(((i + 0.5) * sw) / dw));
        const s = (srow * src.width + scol) * 3;
        const o = (yy * this.width + xx) * 4;
        this.px[o] = src.data[s];
        this.px[o + 1] = src.data[s + 1];
        this.px[o + 2] = src.data[s + 2];
        this.px[o + 3] = 255;
      }
    }
  }

  /** Encodes as an RGBA PNG (no time chunk, so equal pixels give equal bytes). */
  png(): Uint8Array {
    return encodePng(this.width, this.height, 4, this.px);
  }
}

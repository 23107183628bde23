/**
 * Geometric and value transforms of the reference data pipeline (hp-method.md §3.1, §3.2, §9.4).
 *
 * - Resize: shorter side → `size` with PIL's NEAREST filter, for images and labels alike. PIL computes source
 *   coordinates by accumulating the scale step (x₀ = scale/2, then += scale), which differs from
 *   floor((x+0.5)·scale) for some sizes; we accumulate the same way so indices match PIL exactly.
 * - Centre crop: offsets round((H−s)/2), round((W−s)/2) with Python's round (half to even), as torchvision.
 * - Five-crop: torchvision order top-left, top-right, bottom-left, bottom-right, centre.
 * - Normalise: ToTensor (v/255) then ImageNet mean/std, computed in float32 like torch, via a lookup table.
 * @module
 */
import type { RgbImage } from "./codecs.ts";

/** A label map, row-major, -1 = ignore. */
export interface Labels {
  width: number;
  height: number;
  data: Int32Array;
}

/** Output size (w, h) of torchvision Resize(size) for an int size: shorter side = size, longer floored. */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.floor((size * height) / width)];
  return [Math.floor((size * width) / height), size];
}

/** PIL NEAREST source indices for resizing `inSize` → `outSize` (see module comment). */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  const scale = inSize / outSize;
  let xo = scale * 0.5;
  for (let x = 0; x < outSize; x++) {
    idx[x] = Math.min(inSize - 1, Math.floor(xo));
    xo += scale;
  }
  return idx;
}

function resizeNearest<T extends Uint8Array | Int32Array>(
  src: T,
  w: number,
  h: number,
  ch: number,
  ow: number,
  oh: number,
  make: (n: number) => T,
): T {
  const xi = nearestIndices(w, ow), yi = nearestIndices(h, oh);
  const out = make(ow * oh * ch);
  for (let y = 0; y < oh; y++) {
    const srow = yi[y] * w;
    for (let x = 0; x < ow; x++) {
      const s = (srow + xi[x]) * ch, d = (y * ow + x) * ch;
      for (let c = 0; c < ch; c++) out[d + c] = src[s + c];
    }
  }
  return out;
}

/** Resizes an RGB image to `ow`×`oh` (nearest neighbour, PIL indices). */
export function resizeImageNearest(img: RgbImage, ow: number, oh: number): RgbImage {
  if (ow === img.width && oh === img.height) return img;
  return {
    width: ow,
    height: oh,
    data: resizeNearest(img.data, img.width, img.height, 3, ow, oh, (n) => new Uint8Array(n)),
  };
}

/** Resizes an 8-bit one-channel map (e.g. labels) from `w`×`h` to `ow`×`oh` (nearest neighbour, PIL indices). */
export function resizeMapNearest(map: Uint8Array, w: number, h: number, ow: number, oh: number): Uint8Array {
  if (ow === w && oh === h) return map;
  return resizeNearest(map, w, h, 1, ow, oh, (n) => new Uint8Array(n));
}

/** Resizes an RGB image so its shorter side is `size` (nearest neighbour, PIL indices). */
export function resizeShorterNearest(img: RgbImage, size: number): RgbImage {
  const [ow, oh] = shorterSideSize(img.width, img.height, size);
  if (ow === img.width && oh === img.height) return img;
  const data = resizeNearest(img.data, img.width, img.height, 3, ow, oh, (n) => new Uint8Array(n));
  return { width: ow, height: oh, data };
}

/** Resizes a label map so its shorter side is `size` (nearest neighbour, same indices as the image). */
export function resizeLabelsShorterNearest(lab: Labels, size: number): Labels {
  const [ow, oh] = shorterSideSize(lab.width, lab.height, size);
  if (ow === lab.width && oh === lab.height) return lab;
  const data = resizeNearest(lab.data, lab.width, lab.height, 1, ow, oh, (n) => new Int32Array(n));
  return { width: ow, height: oh, data };
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision centre-crop offsets [top, left] for crop h×w of an H×W image. */
export function centerOffsets(H: number, W: number, h: number, w: number): [number, number] {
  return [roundHalfEven((H - h) / 2), roundHalfEven((W - w) / 2)];
}

function crop<T extends Uint8Array | Int32Array>(
  src: T,
  W: number,
  H: number,
  ch: number,
  top: number,
  left: number,
  h: number,
  w: number,
  make: (n: number) => T,
): T {
  if (top < 0 || left < 0 || top + h > H || left + w > W) {
    throw new RangeError(`crop ${h}x${w} at (${top},${left}) does not fit in ${H}x${W}`);
  }
  const out = make(w * h * ch);
  for (let y = 0; y < h; y++) {
    const s = ((top + y) * W + left) * ch;
    out.set(src.subarray(s, s + w * ch) as T, y * w * ch);
  }
  return out;
}

/** Crops an RGB image to the box (top, left, h, w). */
export function cropImage(img: RgbImage, top: number, left: number, h: number, w: number): RgbImage {
  const data = crop(img.data, img.width, img.height, 3, top, left, h, w, (n) => new Uint8Array(n));
  return { width: w, height: h, data };
}

/** Crops a label map to the box (top, left, h, w). */
export function cropLabels(lab: Labels, top: number, left: number, h: number, w: number): Labels {
  const data = crop(lab.data, lab.width, lab.height, 1, top, left, h, w, (n) => new Int32Array(n));
  return { width: w, height: h, data };
}

/** Centre crop s×s (torchvision offsets). */
export function centerCrop(img: RgbImage, s: number): RgbImage {
  const [t, l] = centerOffsets(img.height, img.width, s, s);
  return cropImage(img, t, l, s, s);
}

/** Centre crop s×s of a label map. */
export function centerCropLabels(lab: Labels, s: number): Labels {
  const [t, l] = centerOffsets(lab.height, lab.width, s, s);
  return cropLabels(lab, t, l, s, s);
}

/**
 * The five-crop boxes [top, left, h, w] for ratio r (default 0.5): crop size (⌊r·H⌋, ⌊r·W⌋), order
 * top-left, top-right, bottom-left, bottom-right, centre (hp-method.md §9.4).
 */
export function fiveCropBoxes(H: number, W: number, ratio = 0.5): [number, number, number, number][] {
  const h = Math.floor(H * ratio), w = Math.floor(W * ratio);
  const [ct, cl] = centerOffsets(H, W, h, w);
  return [[0, 0, h, w], [0, W - w, h, w], [H - h, 0, h, w], [H - h, W - w, h, w], [ct, cl, h, w]];
}

/** Resize shorter side to s (nearest) then centre-crop s×s: the train (224) and val (320) transform. */
export function evalTransform(img: RgbImage, s: number): RgbImage {
  return centerCrop(resizeShorterNearest(img, s), s);
}

/** The same transform for labels. */
export function evalTransformLabels(lab: Labels, s: number): Labels {
  return centerCropLabels(resizeLabelsShorterNearest(lab, s), s);
}

/** ImageNet statistics used by DINO. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

const f = Math.fround;

/** LUT[c*256+v] = ((v/255) − mean_c)/std_c in float32 arithmetic (as ToTensor + Normalize in torch). */
export const NORM_LUT: Float32Array = (() => {
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) {
      lut[c * 256 + v] = f(f(f(v / 255) - f(IMAGENET_MEAN[c])) / f(IMAGENET_STD[c]));
    }
  }
  return lut;
})();

/**
 * RGB interleaved u8 → normalised float32 CHW planar [3,H,W]. Writes into `out` at `offset` when given
 * (batch assembly without copies).
 */
export function normalizeImageNet(img: RgbImage, out?: Float32Array, offset = 0): Float32Array {
  const n = img.width * img.height;
  const o = out ?? new Float32Array(3 * n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    o[offset + i] = NORM_LUT[d[i * 3]];
    o[offset + n + i] = NORM_LUT[256 + d[i * 3 + 1]];
    o[offset + 2 * n + i] = NORM_LUT[512 + d[i * 3 + 2]];
  }
  return o;
}

/**
 * The inverse of {@link normalizeImageNet} for `count` images of a batch [B, 3, H, W]: RGB interleaved u8
 * [count·H·W·3] (exact for values it produced: neighbouring NORM_LUT entries are ≈ 0.017 apart).
 */
export function denormalizeImageNet(x: Float32Array, count: number, H: number, W: number): Uint8Array {
  const n = H * W, out = new Uint8Array(count * n * 3);
  for (let b = 0; b < count; b++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < n; i++) {
        const v = (x[(b * 3 + c) * n + i] * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255;
        out[(b * n + i) * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
    }
  }
  return out;
}

/** RGB interleaved u8 → float32 CHW in [0,1] (ToTensor only; the clean augmentation mode starts here). */
export function toTensor01(img: RgbImage, out?: Float32Array, offset = 0): Float32Array {
  const n = img.width * img.height;
  const o = out ?? new Float32Array(3 * n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    o[offset + i] = d[i * 3] / 255;
    o[offset + n + i] = d[i * 3 + 1] / 255;
    o[offset + 2 * n + i] = d[i * 3 + 2] / 255;
  }
  return o;
}

/** In place: [0,1] CHW → ImageNet-normalised CHW (float32 arithmetic). */
export function normalizeInPlace(x: Float32Array, n: number, offset = 0): void {
  for (let c = 0; c < 3; c++) {
    const m = f(IMAGENET_MEAN[c]), s = f(IMAGENET_STD[c]);
    for (let i = 0; i < n; i++) {
      const k = offset + c * n + i;
      x[k] = f(f(x[k] - m) / s);
    }
  }
}

/**
 * The photometric augmentation of HP's "img_aug" view (hp-method.md §3.3), restating torchvision's tensor
 * maths (functional_tensor: _blend, rgb_to_grayscale, _rgb2hsv/_hsv2rgb, gaussian_blur):
 *
 * 1. ColorJitter(0.3, 0.3, 0.3, 0.1): factors b, c, s ~ U[0.7, 1.3], hue shift ~ U[−0.1, 0.1], the four ops
 *    in a random permutation. brightness: clamp(b·x, 0, 1); contrast: clamp(c·x + (1−c)·mean(gray(x)), 0, 1)
 *    with the mean over the whole image; saturation: clamp(s·x + (1−s)·gray(x), 0, 1); hue: RGB→HSV, h ← (h+δ)
 *    mod 1, HSV→RGB (p, q, t clamped to [0,1], v not), no final clamp.
 * 2. RandomGrayscale(p=0.2): gray = 0.2989 r + 0.587 g + 0.114 b replicated (no clamp).
 * 3. p=0.5: 5×5 Gaussian blur, σ ~ U[0.1, 2], taps exp(−x²/2σ²) for x ∈ {−2..2} normalised, reflect padding
 *    (computed separably; equal to torchvision's 2-D kernel up to float rounding).
 *
 * Mode "reference" runs this on the ImageNet-normalised tensor (the official quirk: the [0,1] clamps bite on
 * normalised values); mode "clean" runs it on the [0,1] tensor and normalises afterwards.
 * Random draws come from our seeded `Rng` (torch's generator cannot be matched, only its distributions).
 * @module
 */
import type { Rng } from "../rng.ts";
import { normalizeInPlace } from "../image/transforms.ts";

/** Where the jitter runs: on the normalised tensor (official quirk) or in [0,1] RGB before normalising. */
export type AugMode = "reference" | "clean";

/** One draw of the augmentation's random parameters. */
export interface AugParams {
  /** Permutation of ops: 0 brightness, 1 contrast, 2 saturation, 3 hue (torchvision's fn_idx). */
  order: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  gray: boolean;
  blur: boolean;
  sigma: number;
}

/** Draws parameters; always consumes the same number of values so streams stay aligned. */
export function sampleAugParams(rng: Rng): AugParams {
  const order = rng.shuffle([0, 1, 2, 3]);
  const brightness = rng.uniform(0.7, 1.3);
  const contrast = rng.uniform(0.7, 1.3);
  const saturation = rng.uniform(0.7, 1.3);
  const hue = rng.uniform(-0.1, 0.1);
  const gray = rng.next() < 0.2;
  const blur = rng.next() < 0.5;
  const sigma = rng.uniform(0.1, 2.0);
  return { order, brightness, contrast, saturation, hue, gray, blur, sigma };
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
const gray = (r: number, g: number, b: number) => 0.2989 * r + 0.587 * g + 0.114 * b;

function brightness(x: Float32Array, o: number, n: number, fac: number): void {
  for (let i = o; i < o + 3 * n; i++) x[i] = clamp01(fac * x[i]);
}

function contrast(x: Float32Array, o: number, n: number, fac: number): void {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.fround(gray(x[o + i], x[o + n + i], x[o + 2 * n + i]));
  const mean = Math.fround(sum / n);
  const add = (1 - fac) * mean;
  for (let i = o; i < o + 3 * n; i++) x[i] = clamp01(fac * x[i] + add);
}

function saturation(x: Float32Array, o: number, n: number, fac: number): void {
  for (let i = 0; i < n; i++) {
    const r = x[o + i], g = x[o + n + i], b = x[o + 2 * n + i];
    const l = (1 - fac) * Math.fround(gray(r, g, b));
    x[o + i] = clamp01(fac * r + l);
    x[o + n + i] = clamp01(fac * g + l);
    x[o + 2 * n + i] = clamp01(fac * b + l);
  }
}

function hue(x: Float32Array, o: number, n: number, shift: number): void {
  for (let i = 0; i < n; i++) {
    const r = x[o + i], g = x[o + n + i], b = x[o + 2 * n + i];
    // _rgb2hsv
    const maxc = Math.max(r, g, b), minc = Math.min(r, g, b);
    const eqc = maxc === minc;
    const cr = maxc - minc;
    const s = cr / (eqc ? 1 : maxc);
    const div = eqc ? 1 : cr;
    const rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    let h: number;
    if (maxc === r) h = bc - gc;
    else if (maxc === g) h = 2 + rc - bc;
    else h = 4 + gc - rc;
    h = (h / 6 + 1) % 1; // fmod: the argument is positive here
    // adjust_hue: (h + δ) % 1 with Python/torch remainder semantics (result in [0,1))
    h = h + shift;
    h = h - Math.floor(h);
    // _hsv2rgb
    const v = maxc;
    const i6 = Math.floor(h * 6);
    const fr = h * 6 - i6;
    const p = clamp01(v * (1 - s)), q = clamp01(v * (1 - s * fr)), t = clamp01(v * (1 - s * (1 - fr)));
    let R: number, G: number, B: number;
    const sector = ((i6 % 6) + 6) % 6;
    if (sector === 0) (R = v), (G = t), (B = p);
    else if (sector === 1) (R = q), (G = v), (B = p);
    else if (sector === 2) (R = p), (G = v), (B = t);
    else if (sector === 3) (R = p), (G = q), (B = v);
    else if (sector === 4) (R = t), (G = p), (B = v);
    else (R = v), (G = p), (B = q);
    x[o + i] = R;
    x[o + n + i] = G;
    x[o + 2 * n + i] = B;
  }
}

function grayscale(x: Float32Array, o: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const l = gray(x[o + i], x[o + n + i], x[o + 2 * n + i]);
    x[o + i] = x[o + n + i] = x[o + 2 * n + i] = l;
  }
}

/** Normalised 5-tap Gaussian (torchvision _get_gaussian_kernel1d with kernel size 5). */
export function gaussianTaps(sigma: number): Float64Array {
  const k = new Float64Array(5);
  let sum = 0;
  for (let j = 0; j < 5; j++) {
    const xx = (j - 2) / sigma;
    k[j] = Math.exp(-0.5 * xx * xx);
    sum += k[j];
  }
  for (let j = 0; j < 5; j++) k[j] /= sum;
  return k;
}

/** Reflect index (no edge repeat), valid for pads smaller than the size. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

function blur(x: Float32Array, o: number, W: number, H: number, sigma: number, tmp: Float64Array): void {
  const k = gaussianTaps(sigma);
  const k0 = k[0], k1 = k[1], k2 = k[2];
  const n = W * H;
  // Reflected index tables for the borders; the interior uses direct offsets.
  const rx = new Int32Array(W + 4), ry = new Int32Array(H + 4);
  for (let i = 0; i < W + 4; i++) rx[i] = reflect(i - 2, W);
  for (let i = 0; i < H + 4; i++) ry[i] = reflect(i - 2, H);
  for (let c = 0; c < 3; c++) {
    const base = o + c * n;
    for (let y = 0; y < H; y++) {
      const row = base + y * W, trow = y * W;
      for (let xx = 0; xx < W; xx++) {
        let s: number;
        if (xx >= 2 && xx < W - 2) {
          const i = row + xx;
          s = k0 * (x[i - 2] + x[i + 2]) + k1 * (x[i - 1] + x[i + 1]) + k2 * x[i];
        } else {
          s = 0;
          for (let j = 0; j < 5; j++) s += k[j] * x[row + rx[xx + j]];
        }
        tmp[trow + xx] = s;
      }
    }
    for (let y = 0; y < H; y++) {
      const out = base + y * W;
      if (y >= 2 && y < H - 2) {
        const a = (y - 2) * W, b = (y - 1) * W, m = y * W, d = (y + 1) * W, e = (y + 2) * W;
        for (let xx = 0; xx < W; xx++) {
          x[out + xx] = k0 * (tmp[a + xx] + tmp[e + xx]) + k1 * (tmp[b + xx] + tmp[d + xx]) +
            k2 * tmp[m + xx];
        }
      } else {
        for (let xx = 0; xx < W; xx++) {
          let s = 0;
          for (let j = 0; j < 5; j++) s += k[j] * tmp[ry[y + j] * W + xx];
          x[out + xx] = s;
        }
      }
    }
  }
}

/**
 * Applies the augmentation in place to one CHW image of W×H at `offset` of `x`. In "reference" mode `x`
 * must hold the normalised tensor; in "clean" mode the [0,1] tensor, which is normalised at the end.
 */
export function applyAug(
  x: Float32Array,
  W: number,
  H: number,
  p: AugParams,
  mode: AugMode,
  offset = 0,
): void {
  const n = W * H;
  for (const op of p.order) {
    if (op === 0) brightness(x, offset, n, p.brightness);
    else if (op === 1) contrast(x, offset, n, p.contrast);
    else if (op === 2) saturation(x, offset, n, p.saturation);
    else hue(x, offset, n, p.hue);
  }
  if (p.gray) grayscale(x, offset, n);
  if (p.blur) blur(x, offset, W, H, p.sigma, new Float64Array(n));
  if (mode === "clean") normalizeInPlace(x, n, offset);
}

/**
 * Image size caps, checked from the file header before any pixel is decoded (a 1.2 MB
 * 20000×20000 PNG used to be decoded in full — 6 GB — and a JPEG claiming 65500×65500 crashed the WASM
 * decoder with "unreachable"). The PNG decoder (png.ts), the libjpeg-exact JPEG decoder (core/image/jpeg.ts)
 * and the shared decoder (image.ts) all call {@link checkImageSize}.
 *
 * Defaults (core/limits.ts): 100 megapixels and 65535 pixels per side. `HPSEG_MAX_IMAGE_PIXELS` and
 * `HPSEG_MAX_IMAGE_SIDE` change them (every thread reads the same environment).
 * @module
 */
import { InputError } from "../errors.ts";
import { DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_IMAGE_SIDE } from "../limits.ts";

/** The caps in force. */
export interface ImageLimits {
  pixels: number;
  side: number;
}

function envInt(name: string, fallback: number): number {
  let raw: string | undefined;
  try {
    raw = Deno.env.get(name);
  } catch {
    return fallback; // no --allow-env in this thread: the defaults
  }
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new InputError(`${name} must be a positive integer, got "${raw}"`);
  }
  return v;
}

/** The caps from the environment (or the defaults). @throws InputError for a malformed variable */
export function imageLimits(): ImageLimits {
  return {
    pixels: envInt("HPSEG_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS),
    side: envInt("HPSEG_MAX_IMAGE_SIDE", DEFAULT_MAX_IMAGE_SIDE),
  };
}

/**
 * Refuses a `width`×`height` image over the caps, before it is decoded. Throws a plain Error whose message
 * the decoders' callers prefix with the file name (like every other decoding problem).
 */
export function checkImageSize(width: number, height: number, limits = imageLimits()): void {
  if (width > limits.side || height > limits.side) {
    throw new Error(
      `image is ${width}×${height}, over the ${limits.side}-pixel side limit (HPSEG_MAX_IMAGE_SIDE)`,
    );
  }
  if (width * height > limits.pixels) {
    throw new Error(
      `image is ${width}×${height} = ${width * height} pixels, over the ${limits.pixels}-pixel limit ` +
        `(HPSEG_MAX_IMAGE_PIXELS raises it)`,
    );
  }
}

/**
 * Width and height from a JPEG's frame header (SOFn), scanning marker segments up to the first scan; null
 * when there is none (the decoder then reports the problem).
 */
export function jpegSize(d: Uint8Array): { width: number; height: number } | null {
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) return null;
  let p = 2;
  while (p + 4 <= d.length) {
    if (d[p] !== 0xff) return null;
    const m = d[p + 1];
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      p += 2; // markers without a length
      continue;
    }
    const len = (d[p + 2] << 8) | d[p + 3];
    if (m === 0xda || m === 0xd9) return null; // scan or end before any frame header
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (p + 9 > d.length) return null;
      return { height: (d[p + 5] << 8) | d[p + 6], width: (d[p + 7] << 8) | d[p + 8] };
    }
    p += 2 + len;
  }
  return null;
}

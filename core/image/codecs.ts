/**
 * Image and label-map decoding/encoding for the data pipeline (hp-method.md §3, §9).
 *
 * JPEGs are decoded by our own libjpeg-turbo-exact decoder (core/image/jpeg.ts: the pixels PIL, and so the
 * official PyTorch pipeline, sees) in every command and thread; npm imagescript's WASM decoder only takes
 * what ours does not implement (CMYK/YCCK, arithmetic coding, 12-bit, lossless). That decoder reads its
 * `.wasm` from Deno's npm cache at first use, so least-privilege Workers must be allowed to read
 * {@link sharedJpegDecoderDir}. JPEG encoding goes through our own baseline encoder
 * (core/image/jpeg_encode.ts); PNG through our own codec (core/image/png.ts) so label maps come back as raw
 * values. Every error names the file.
 * @module
 */
// The WASM JPEG decoder only: importing imagescript's main module loads its native (FFI) codec library at
// module load, which would force --allow-ffi onto every command that reads images.
import jpegWasm from "imagescript/wasm/node/jpeg.js";
import { InputError } from "../errors.ts";
import { decodePng, encodePng, isPng, pngToLabelValues, pngToRgb } from "./png.ts";
import { encodeJpegBaseline } from "./jpeg_encode.ts";
import { checkImageSize, jpegSize } from "./size_limits.ts";
import { decodeJpegExact, JpegUnsupported } from "./jpeg.ts";

/** A file that cannot be decoded (`prepare --skip-bad` skips and counts these). */
export class DecodeError extends InputError {
  override name = "DecodeError";
}

/** An 8-bit RGB image, interleaved, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A label map, row-major, values are class ids with -1 = ignore. */
export interface LabelMap {
  width: number;
  height: number;
  data: Int32Array;
}

function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/** Decodes a JPEG or PNG file's bytes to RGB. `name` is used in error messages. */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<RgbImage> {
  try {
    if (isPng(bytes)) {
      const p = decodePng(bytes);
      return { width: p.width, height: p.height, data: pngToRgb(p) };
    }
    if (isJpeg(bytes)) {
      // The size from the header, before the WASM decoder allocates it (or traps with "unreachable").
      const size = jpegSize(bytes);
      if (size) checkImageSize(size.width, size.height);
      return await decodeJpeg(bytes);
    }
    throw new Error("not a JPEG or PNG file");
  } catch (err) {
    if (err instanceof InputError) throw err;
    const why = err instanceof WebAssembly.RuntimeError
      ? `the JPEG decoder failed (${err.message}): corrupt data or a size it cannot hold`
      : (err as Error).message ?? String(err);
    throw new DecodeError(`Cannot decode image ${name}: ${why}`, { cause: err });
  }
}

/**
 * The folder holding the fallback WASM decoder's `.wasm` files (in Deno's npm cache, or in a compiled
 * binary's embedded file system), for Worker read permissions; null when it cannot be located.
 */
export function sharedJpegDecoderDir(): string | null {
  try {
    const url = new URL("../any/", import.meta.resolve("imagescript/wasm/node/jpeg.js"));
    return url.protocol === "file:" ? decodeURIComponent(url.pathname) : null;
  } catch {
    return null;
  }
}

let jpegCodec: Promise<{ decode(b: Uint8Array): JpegFrame }> | null = null;

interface JpegFrame {
  width: number;
  height: number;
  /** 0 gray, 1 RGB, 2 CMYK (inverted, Adobe convention as imagescript handles it). */
  format: number;
  buffer: Uint8Array;
}

/** Our libjpeg-exact decoder; the shared WASM decoder for what it does not implement. */
function decodeJpeg(bytes: Uint8Array): RgbImage | Promise<RgbImage> {
  try {
    return decodeJpegExact(bytes);
  } catch (err) {
    if (err instanceof JpegUnsupported) return decodeJpegShared(bytes);
    throw err;
  }
}

/** imagescript's WASM decoder (differs from libjpeg by up to 3 grey levels; see core/image/jpeg.ts). */
export async function decodeJpegShared(bytes: Uint8Array): Promise<RgbImage> {
  jpegCodec ??= (jpegWasm as { init(): Promise<{ decode(b: Uint8Array): JpegFrame }> }).init();
  const fr = (await jpegCodec).decode(bytes);
  const n = fr.width * fr.height, b = fr.buffer;
  let data: Uint8Array;
  if (fr.format === 1) data = b.slice(0, n * 3);
  else if (fr.format === 0) {
    data = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = b[i];
  } else {
    data = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const k = 1 - b[i * 4 + 3] / 255;
      for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.round(255 * (1 - b[i * 4 + c] / 255) * k);
    }
  }
  return { width: fr.width, height: fr.height, data };
}

/** Decodes a label PNG to its raw per-pixel values (gray value or palette index). */
export function decodeLabelPng(
  bytes: Uint8Array,
  name: string,
): { width: number; height: number; values: Int32Array } {
  try {
    const p = decodePng(bytes);
    return { width: p.width, height: p.height, values: pngToLabelValues(p) };
  } catch (err) {
    throw new DecodeError(`Cannot decode label map ${name}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads and decodes an image file. */
export async function readImage(path: string): Promise<RgbImage> {
  return decodeImage(await readBytes(path, "image"), path);
}

/** Reads a file, turning "not found" into an InputError naming the path and what it should be. */
export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new InputError(`Missing ${what} file ${path}`);
    throw new InputError(`Cannot read ${what} file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Encodes RGB as a baseline JPEG (our encoder, core/image/jpeg_encode.ts; `quality` 75 = PIL's default, used
 * by the reference five-crop tool). Async for call-site compatibility with other codecs.
 */
export function encodeJpeg(img: RgbImage, quality = 75): Promise<Uint8Array> {
  return Promise.resolve(encodeJpegBaseline(img.width, img.height, img.data, quality));
}

/** Encodes RGB as PNG (lossless; used for the synthetic scenes written to disk). */
export function encodeRgbPng(img: RgbImage): Uint8Array {
  return encodePng(img.width, img.height, 3, img.data);
}

/** Encodes an 8-bit gray map (e.g. label+1) as PNG. */
export function encodeGrayPng(width: number, height: number, values: Uint8Array): Uint8Array {
  return encodePng(width, height, 1, values);
}

/**
 * 8-bit label PNGs: a small decoder and encoder of our own (used by score / predict, hp-method.md §8.4).
 *
 * imagescript decodes palette PNGs to their RGB colours, but a label PNG's meaning is the palette *index*,
 * so labels go through this decoder: bit depth 1/2/4/8 greyscale or palette images (values = grey level or
 * palette index), non-interlaced. Anything else (RGB, 16-bit, interlaced) is refused with a message naming
 * the file and the colour type. Encoding writes 8-bit greyscale.
 * @module
 */
import { deflateSync, inflateSync } from "node:zlib";
import { InputError } from "../errors.ts";

/** A decoded label map: values in 0–255, row-major [height, width]. */
export interface LabelImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const COLOR_NAMES: Record<number, string> = {
  0: "greyscale",
  2: "RGB",
  3: "palette",
  4: "greyscale+alpha",
  6: "RGBA",
};

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Decodes an 8-bit (or 1/2/4-bit) greyscale or palette PNG into label values.
 * @param bytes the file contents
 * @param name file name used in error messages
 * @throws InputError naming the file when the PNG is not a decodable label image
 */
export function decodeLabelPng(bytes: Uint8Array, name: string): LabelImage {
  const fail = (why: string): never => {
    throw new InputError(`Cannot decode label PNG ${name}: ${why}`);
  };
  if (bytes.length < 8 || SIGNATURE.some((v, i) => bytes[i] !== v)) fail("not a PNG file");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, colorType = -1, interlace = 0;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (pos + 8 <= bytes.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const start = pos + 8;
    if (start + len + 4 > bytes.length) fail(`chunk ${type} is truncated`);
    const body = bytes.subarray(start, start + len);
    if (type === "IHDR") {
      if (len < 13) fail("bad IHDR chunk");
      width = dv.getUint32(start);
      height = dv.getUint32(start + 4);
      depth = body[8];
      colorType = body[9];
      interlace = body[12];
    } else if (type === "IDAT") {
      idat.push(body);
    } else if (type === "IEND") {
      sawEnd = true;
      break;
    }
    pos = start + len + 4;
  }
  if (colorType < 0) fail("no IHDR chunk");
  if (!sawEnd && idat.length === 0) fail("file is truncated (no image data)");
  if (colorType !== 0 && colorType !== 3) {
    fail(
      `expected an 8-bit greyscale or palette label image, got ${COLOR_NAMES[colorType] ?? colorType} ` +
        `(colour type ${colorType})`,
    );
  }
  if (![1, 2, 4, 8].includes(depth)) fail(`unsupported bit depth ${depth} (labels must be 8-bit)`);
  if (interlace !== 0) fail("interlaced PNGs are not supported");
  if (width === 0 || height === 0) fail(`empty image ${width}×${height}`);
  let total = 0;
  for (const c of idat) total += c.length;
  const packed = new Uint8Array(total);
  let o = 0;
  for (const c of idat) {
    packed.set(c, o);
    o += c.length;
  }
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(inflateSync(packed));
  } catch (err) {
    return fail(`corrupt image data (${err instanceof Error ? err.message : String(err)})`);
  }
  const stride = Math.ceil((width * depth) / 8);
  if (raw.length < height * (stride + 1)) fail(`image data too short for ${width}×${height}`);
  // Undo the per-row filters (bytes-per-pixel is 1 for every depth ≤ 8 of a one-channel image).
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = rows.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x > 0 ? cur[x - 1] : 0, b = prev ? prev[x] : 0, c = prev && x > 0 ? prev[x - 1] : 0;
      let v = src[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) v += paeth(a, b, c);
      else if (f !== 0) fail(`bad filter type ${f} in row ${y}`);
      cur[x] = v & 255;
    }
  }
  const data = new Uint8Array(width * height);
  if (depth === 8) {
    data.set(rows);
  } else {
    const perByte = 8 / depth, mask = (1 << depth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const byte = rows[y * stride + Math.floor(x / perByte)];
        const shift = 8 - depth * (x % perByte + 1);
        data[y * width + x] = (byte >> shift) & mask;
      }
    }
  }
  return { width, height, data };
}

// ---------------------------------------------------------------------------------------------------
// Encoder

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 12);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** Encodes an 8-bit greyscale PNG (label values 0–255). */
export function encodeLabelPng(img: LabelImage): Uint8Array {
  const { width, height, data } = img;
  if (data.length !== width * height) {
    throw new TypeError(`encodeLabelPng: ${data.length} values for ${width}×${height}`);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [
    new Uint8Array(SIGNATURE),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

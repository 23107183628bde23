/**
 * A small PNG codec of our own (decode every standard PNG; encode 8-bit gray, RGB and RGBA).
 *
 * Why not imagescript for PNG: label maps must come back as raw sample values (grayscale value or palette
 * index), never as colours, and we want byte-identical output from run to run for `prepare` (hp-method.md
 * §9.4: label PNGs store label+1). Inflate/deflate use node:zlib's synchronous calls so decoding works the same
 * inside Web Workers.
 * @module
 */
import { deflateSync, inflateSync } from "node:zlib";
import { checkImageSize } from "./size_limits.ts";

/** Raw decoded PNG samples. `samples` holds `channels` values per pixel, row-major, 8 or 16 bit. */
export interface PngRaw {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  colorType: number;
  bitDepth: number;
  /** Samples per pixel as stored (palette images: 1 = the index). */
  channels: number;
  samples: Uint8Array | Uint16Array;
  /** RGB triples for colour type 3. */
  palette?: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [
  0,
  1,
  1,
  2,
]];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** True when `bytes` start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((v, i) => bytes[i] === v);
}

/**
 * Decodes a PNG into raw samples. Throws a plain Error describing what is wrong; callers add the file name.
 */
export function decodePng(bytes: Uint8Array): PngRaw {
  if (!isPng(bytes)) throw new Error("not a PNG file (bad signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, bitDepth = 0, colorType = -1, interlace = 0;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (pos + 8 <= bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    const start = pos + 8;
    if (start + len + 4 > bytes.length) {
      throw new Error(`PNG is truncated (chunk ${type} needs ${len} bytes at offset ${start})`);
    }
    const body = bytes.subarray(start, start + len);
    if (type === "IHDR") {
      width = view.getUint32(start);
      height = view.getUint32(start + 4);
      bitDepth = bytes[start + 8];
      colorType = bytes[start + 9];
      interlace = bytes[start + 12];
      // Before any image data is read: a small file may claim billions of pixels (a PNG bomb).
      if (width === 0 || height === 0) throw new Error(`PNG has an empty size ${width}×${height}`);
      checkImageSize(width, height);
    } else if (type === "PLTE") palette = body.slice();
    else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") {
      sawEnd = true;
      break;
    }
    pos = start + len + 4;
  }
  if (colorType < 0) throw new Error("PNG has no IHDR chunk");
  if (!sawEnd && idat.length === 0) throw new Error("PNG is truncated (no image data)");
  const channels = CHANNELS[colorType];
  if (channels === undefined) throw new Error(`PNG colour type ${colorType} is not valid`);
  if (![1, 2, 4, 8, 16].includes(bitDepth)) throw new Error(`PNG bit depth ${bitDepth} is not valid`);
  if (colorType === 3 && !palette) throw new Error("palette PNG has no PLTE chunk");
  const total = idat.reduce((s, c) => s + c.length, 0);
  const zdata = new Uint8Array(total);
  let off = 0;
  for (const c of idat) {
    zdata.set(c, off);
    off += c.length;
  }
  // The filtered rows take exactly this many bytes: inflating more can only be a bomb or garbage.
  const passes = interlace === 0 ? [[0, 0, 1, 1]] : ADAM7;
  let rawBytes = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
    if (pw > 0 && ph > 0) rawBytes += ph * (1 + Math.ceil((pw * channels * bitDepth) / 8));
  }
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(inflateSync(zdata, { maxOutputLength: rawBytes + 1024 }));
  } catch (err) {
    throw new Error(`PNG image data cannot be inflated (${(err as Error).message})`);
  }
  const samples = bitDepth === 16
    ? new Uint16Array(width * height * channels)
    : new Uint8Array(width * height * channels);
  if (interlace === 0) {
    unfilterPass(raw, 0, width, height, channels, bitDepth, (x, y, c, v) => {
      samples[(y * width + x) * channels + c] = v;
    }, bitDepth === 8 ? samples : undefined);
  } else {
    // Adam7: seven passes, each a reduced image with its own filter rows.
    let rpos = 0;
    for (const [x0, y0, dx, dy] of ADAM7) {
      const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
      if (pw <= 0 || ph <= 0) continue;
      rpos = unfilterPass(raw, rpos, pw, ph, channels, bitDepth, (x, y, c, v) => {
        samples[((y0 + y * dy) * width + x0 + x * dx) * channels + c] = v;
      });
    }
  }
  return { width, height, colorType, bitDepth, channels, samples, palette };
}

/** Undoes the per-row filters of one (sub)image starting at `pos`; returns the position after it. */
function unfilterPass(
  raw: Uint8Array,
  pos: number,
  w: number,
  h: number,
  channels: number,
  bitDepth: number,
  put: (x: number, y: number, c: number, v: number) => void,
  /** Non-interlaced 8-bit output: rows are copied straight into it. */
  direct?: Uint8Array | Uint16Array,
): number {
  const bitsPP = channels * bitDepth;
  const stride = Math.ceil((w * bitsPP) / 8);
  const bpp = Math.max(1, bitsPP >> 3);
  let prev = new Uint8Array(stride);
  let cur = new Uint8Array(stride);
  for (let y = 0; y < h; y++) {
    if (pos + 1 + stride > raw.length) throw new Error("PNG is truncated (image data too short)");
    const ft = raw[pos];
    const line = raw.subarray(pos + 1, pos + 1 + stride);
    pos += 1 + stride;
    if (ft === 0) cur.set(line);
    else if (ft === 1) {
      for (let i = 0; i < stride; i++) cur[i] = (line[i] + (i >= bpp ? cur[i - bpp] : 0)) & 255;
    } else if (ft === 2) {
      for (let i = 0; i < stride; i++) cur[i] = (line[i] + prev[i]) & 255;
    } else if (ft === 3) {
      for (let i = 0; i < stride; i++) {
        cur[i] = (line[i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1)) & 255;
      }
    } else if (ft === 4) {
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        cur[i] = (line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 255;
      }
    } else throw new Error(`PNG row filter ${ft} is not valid`);
    if (bitDepth === 8 && direct) {
      (direct as Uint8Array).set(cur, y * stride);
    } else if (bitDepth === 8) {
      for (let x = 0, i = 0; x < w; x++) for (let c = 0; c < channels; c++) put(x, y, c, cur[i++]);
    } else if (bitDepth === 16) {
      for (let x = 0, i = 0; x < w; x++) {
        for (let c = 0; c < channels; c++, i += 2) put(x, y, c, (cur[i] << 8) | cur[i + 1]);
      }
    } else {
      // Sub-byte depths only occur with one channel (gray or palette).
      const perByte = 8 / bitDepth, mask = (1 << bitDepth) - 1;
      for (let x = 0; x < w; x++) {
        const byte = cur[Math.floor(x / perByte)];
        const shift = 8 - bitDepth * ((x % perByte) + 1);
        put(x, y, 0, (byte >> shift) & mask);
      }
    }
    [prev, cur] = [cur, prev];
  }
  return pos;
}

/** Converts raw PNG samples to 8-bit RGB interleaved (alpha dropped, palette expanded, gray replicated). */
export function pngToRgb(p: PngRaw): Uint8Array {
  const n = p.width * p.height;
  const out = new Uint8Array(n * 3);
  const s = p.samples, ch = p.channels;
  const to8 = p.bitDepth === 16
    ? (v: number) => v >> 8
    : p.bitDepth < 8 && p.colorType !== 3
    ? (v: number) => Math.round((v * 255) / ((1 << p.bitDepth) - 1))
    : (v: number) => v;
  for (let i = 0; i < n; i++) {
    if (p.colorType === 3) {
      const k = s[i] * 3;
      out[i * 3] = p.palette![k];
      out[i * 3 + 1] = p.palette![k + 1];
      out[i * 3 + 2] = p.palette![k + 2];
    } else if (ch >= 3) {
      out[i * 3] = to8(s[i * ch]);
      out[i * 3 + 1] = to8(s[i * ch + 1]);
      out[i * 3 + 2] = to8(s[i * ch + 2]);
    } else {
      const g = to8(s[i * ch]);
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = g;
    }
  }
  return out;
}

/**
 * Reads a label PNG as raw values: the gray value (gray / gray+alpha) or the palette index (palette).
 * RGB label images are rejected: their meaning depends on a colour table we do not know.
 */
export function pngToLabelValues(p: PngRaw): Int32Array {
  if (p.colorType === 2 || p.colorType === 6) {
    throw new Error("label PNG is RGB; expected 8-bit grayscale or palette (one value per pixel)");
  }
  const n = p.width * p.height, ch = p.channels;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = p.samples[i * ch];
  return out;
}

// ---- encoder ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** PNG colour type of each channel count {@link encodePng} writes. */
const ENCODE_COLOR_TYPE: Record<number, number> = { 1: 0, 3: 2, 4: 6 };

/**
 * Encodes 8-bit gray (channels 1), RGB (channels 3) or RGBA (channels 4, e.g. a canvas bitmap) pixels as
 * PNG. Deterministic: the row filter is chosen by the usual minimum-sum-of-absolute-differences rule and zlib
 * runs at a fixed level. No chunk carries a time, so equal pixels give equal bytes.
 */
export function encodePng(
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  data: Uint8Array | Uint8ClampedArray,
): Uint8Array {
  if (ENCODE_COLOR_TYPE[channels] === undefined) {
    throw new RangeError(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  }
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new RangeError(`encodePng: bad size ${width}×${height}`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`encodePng: expected ${width * height * channels} bytes, got ${data.length}`);
  }
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  const cand = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? data.subarray((y - 1) * stride, y * stride) : null;
    let best = -1, bestSum = Infinity;
    const out = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let ft = 0; ft < 5; ft++) {
      let sum = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= channels ? row[i - channels] : 0;
        const b = prev ? prev[i] : 0;
        const c = prev && i >= channels ? prev[i - channels] : 0;
        let pred = 0;
        if (ft === 1) pred = a;
        else if (ft === 2) pred = b;
        else if (ft === 3) pred = (a + b) >> 1;
        else if (ft === 4) {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
        const v = (row[i] - pred) & 255;
        cand[i] = v;
        sum += v < 128 ? v : 256 - v;
      }
      if (sum < bestSum) {
        bestSum = sum;
        best = ft;
        out.set(cand);
      }
    }
    raw[y * (stride + 1)] = best;
  }
  const z = new Uint8Array(deflateSync(raw, { level: 6 }));
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = ENCODE_COLOR_TYPE[channels];
  const chunks: [string, Uint8Array][] = [["IHDR", ihdr], ["IDAT", z], ["IEND", new Uint8Array(0)]];
  const size = 8 + chunks.reduce((s, [, b]) => s + 12 + b.length, 0);
  const out = new Uint8Array(size);
  const ov = new DataView(out.buffer);
  out.set(SIGNATURE, 0);
  let pos = 8;
  for (const [type, body] of chunks) {
    ov.setUint32(pos, body.length);
    for (let i = 0; i < 4; i++) out[pos + 4 + i] = type.charCodeAt(i);
    out.set(body, pos + 8);
    ov.setUint32(pos + 8 + body.length, crc32(out, pos + 4, pos + 8 + body.length));
    pos += 12 + body.length;
  }
  return out;
}

/**
 * Pixel stage of the libjpeg-exact JPEG decoder (core/image/jpeg.ts): the "islow" integer IDCT with its
 * range-limit table (jidctint.c, jdmaster.c), "fancy" chroma upsampling (jdsample.c, edge rows as
 * jdmainct.c supplies them) and YCbCr→RGB with jdcolor.c's fixed-point tables.
 * @module
 */

/** A feature the decoder does not implement (the caller may fall back to another decoder). */
export class JpegUnsupported extends Error {
  override name = "JpegUnsupported";
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// jdcolor.c build_ycc_rgb_table (SCALEBITS 16).
const FIX16 = (x: number) => Math.floor(x * 65536 + 0.5);
const CR_R = new Int32Array(256),
  CB_B = new Int32Array(256),
  CR_G = new Int32Array(256),
  CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX16(1.402) * x + 32768) >> 16;
  CB_B[i] = (FIX16(1.772) * x + 32768) >> 16;
  CR_G[i] = -FIX16(0.71414) * x;
  CB_G[i] = -FIX16(0.34414) * x + 32768;
}

// ---------------------------------------------------------------------------------------------------
// jidctint.c (libjpeg 6b / libjpeg-turbo "islow")

const CONST_BITS = 13, PASS1_BITS = 2;
const F_0_298631336 = 2446, F_0_390180644 = 3196, F_0_541196100 = 4433, F_0_765366865 = 6270;
const F_0_899976223 = 7373, F_1_175875602 = 9633, F_1_501321110 = 12299, F_1_847759065 = 15137;
const F_1_961570560 = 16069, F_2_053119869 = 16819, F_2_562915447 = 20995, F_3_072711026 = 25172;

/** Arithmetic right shift with rounding, on values that may exceed 32 bits. */
function descale(x: number, n: number): number {
  return Math.floor((x + 2 ** (n - 1)) / 2 ** n);
}

/** Post-IDCT range limit (jdmaster.c prepare_range_limit_table), including its wrap-around. */
function rangeLimit(v: number): number {
  const i = v & 1023;
  if (i < 128) return i + 128;
  if (i < 512) return 255;
  if (i < 896) return 0;
  return i - 896;
}

/** Dequantises and inverse-transforms one 8×8 block into `out` (row stride `stride`). */
export function idctIslow(
  co: Int32Array,
  o: number,
  q: Int32Array,
  ws: Int32Array,
  out: Uint8Array,
  outOff: number,
  stride: number,
): void {
  for (let c = 0; c < 8; c++) {
    const v = (r: number) => co[o + r * 8 + c] * q[r * 8 + c];
    let z2 = v(2), z3 = v(6);
    let z1 = (z2 + z3) * F_0_541196100;
    let tmp2 = z1 + z3 * -F_1_847759065;
    let tmp3 = z1 + z2 * F_0_765366865;
    z2 = v(0);
    z3 = v(4);
    let tmp0 = (z2 + z3) * 2 ** CONST_BITS;
    let tmp1 = (z2 - z3) * 2 ** CONST_BITS;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = v(7);
    tmp1 = v(5);
    tmp2 = v(3);
    tmp3 = v(1);
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F_1_175875602;
    tmp0 *= F_0_298631336;
    tmp1 *= F_2_053119869;
    tmp2 *= F_3_072711026;
    tmp3 *= F_1_501321110;
    z1 *= -F_0_899976223;
    z2 *= -F_2_562915447;
    z3 = z3 * -F_1_961570560 + z5;
    z4 = z4 * -F_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const sh = CONST_BITS - PASS1_BITS;
    ws[c] = descale(tmp10 + tmp3, sh);
    ws[56 + c] = descale(tmp10 - tmp3, sh);
    ws[8 + c] = descale(tmp11 + tmp2, sh);
    ws[48 + c] = descale(tmp11 - tmp2, sh);
    ws[16 + c] = descale(tmp12 + tmp1, sh);
    ws[40 + c] = descale(tmp12 - tmp1, sh);
    ws[24 + c] = descale(tmp13 + tmp0, sh);
    ws[32 + c] = descale(tmp13 - tmp0, sh);
  }
  for (let r = 0; r < 8; r++) {
    const w = (i: number) => ws[r * 8 + i];
    let z2 = w(2), z3 = w(6);
    let z1 = (z2 + z3) * F_0_541196100;
    let tmp2 = z1 + z3 * -F_1_847759065;
    let tmp3 = z1 + z2 * F_0_765366865;
    let tmp0 = (w(0) + w(4)) * 2 ** CONST_BITS;
    let tmp1 = (w(0) - w(4)) * 2 ** CONST_BITS;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = w(7);
    tmp1 = w(5);
    tmp2 = w(3);
    tmp3 = w(1);
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F_1_175875602;
    tmp0 *= F_0_298631336;
    tmp1 *= F_2_053119869;
    tmp2 *= F_3_072711026;
    tmp3 *= F_1_501321110;
    z1 *= -F_0_899976223;
    z2 *= -F_2_562915447;
    z3 = z3 * -F_1_961570560 + z5;
    z4 = z4 * -F_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const sh = CONST_BITS + PASS1_BITS + 3, o2 = outOff + r * stride;
    out[o2] = rangeLimit(descale(tmp10 + tmp3, sh));
    out[o2 + 7] = rangeLimit(descale(tmp10 - tmp3, sh));
    out[o2 + 1] = rangeLimit(descale(tmp11 + tmp2, sh));
    out[o2 + 6] = rangeLimit(descale(tmp11 - tmp2, sh));
    out[o2 + 2] = rangeLimit(descale(tmp12 + tmp1, sh));
    out[o2 + 5] = rangeLimit(descale(tmp12 - tmp1, sh));
    out[o2 + 3] = rangeLimit(descale(tmp13 + tmp0, sh));
    out[o2 + 4] = rangeLimit(descale(tmp13 - tmp0, sh));
  }
}

// ---------------------------------------------------------------------------------------------------
// jdsample.c upsampling

/**
 * Upsamples one component plane (stride `stride`, real size cw×ch) by (fx, fy) to W×H: fancy triangle
 * filters for 2×1, 2×2 and 1×2, box replication otherwise. Rows above the top / below the bottom repeat
 * the edge row (jdmainct.c context rows).
 */
export function upsample(
  p: Uint8Array,
  stride: number,
  cw: number,
  ch: number,
  fx: number,
  fy: number,
  W: number,
  H: number,
): Uint8Array {
  const out = new Uint8Array(W * H);
  const row = (y: number) => Math.min(Math.max(y, 0), ch - 1) * stride;
  if (fx === 1 && fy === 1) {
    for (let y = 0; y < H; y++) out.set(p.subarray(y * stride, y * stride + W), y * W);
    return out;
  }
  const put = (y: number, x: number, v: number) => {
    if (y < H && x < W) out[y * W + x] = v;
  };
  // libjpeg-turbo only uses the fancy filters when the component is more than 2 samples wide.
  const fancy = cw > 2;
  if (fancy && fx === 2 && fy === 1) {
    for (let y = 0; y < ch; y++) {
      const r = y * stride;
      put(y, 0, p[r]);
      put(y, 1, (p[r] * 3 + p[r + 1] + 2) >> 2);
      for (let x = 1; x < cw - 1; x++) {
        const v = p[r + x] * 3;
        put(y, 2 * x, (v + p[r + x - 1] + 1) >> 2);
        put(y, 2 * x + 1, (v + p[r + x + 1] + 2) >> 2);
      }
      const l = cw - 1;
      put(y, 2 * l, (p[r + l] * 3 + p[r + l - 1] + 1) >> 2);
      put(y, 2 * l + 1, p[r + l]);
    }
    return out;
  }
  if (fancy && fx === 2 && fy === 2) {
    for (let y = 0; y < ch; y++) {
      for (let v = 0; v < 2; v++) {
        const r0 = row(y), r1 = row(v === 0 ? y - 1 : y + 1), oy = 2 * y + v;
        if (oy >= H) continue;
        const col = (x: number) => p[r0 + x] * 3 + p[r1 + x];
        let last = col(0), cur = col(0), next = col(1);
        put(oy, 0, (cur * 4 + 8) >> 4);
        put(oy, 1, (cur * 3 + next + 7) >> 4);
        last = cur;
        cur = next;
        for (let x = 1; x < cw - 1; x++) {
          next = col(x + 1);
          put(oy, 2 * x, (cur * 3 + last + 8) >> 4);
          put(oy, 2 * x + 1, (cur * 3 + next + 7) >> 4);
          last = cur;
          cur = next;
        }
        const l = cw - 1;
        put(oy, 2 * l, (cur * 3 + last + 8) >> 4);
        put(oy, 2 * l + 1, (cur * 4 + 7) >> 4);
      }
    }
    return out;
  }
  if (fancy && fx === 1 && fy === 2) {
    for (let y = 0; y < ch; y++) {
      for (let v = 0; v < 2; v++) {
        const r0 = row(y), r1 = row(v === 0 ? y - 1 : y + 1), bias = v === 0 ? 1 : 2;
        for (let x = 0; x < cw; x++) put(2 * y + v, x, (p[r0 + x] * 3 + p[r1 + x] + bias) >> 2);
      }
    }
    return out;
  }
  if (!Number.isInteger(fx) || !Number.isInteger(fy)) throw new JpegUnsupported(`sampling ratio ${fx}×${fy}`);
  for (let y = 0; y < H; y++) {
    const r = Math.floor(y / fy) * stride;
    for (let x = 0; x < W; x++) out[y * W + x] = p[r + Math.floor(x / fx)];
  }
  return out;
}

/** YCbCr planes → interleaved RGB (jdcolor.c ycc_rgb_convert). */
export function yccToRgb(y: Uint8Array, cb: Uint8Array, cr: Uint8Array, out: Uint8Array): void {
  for (let i = 0; i < y.length; i++) {
    const Y = y[i], b = cb[i], r = cr[i];
    out[3 * i] = clamp255(Y + CR_R[r]);
    out[3 * i + 1] = clamp255(Y + ((CB_G[b] + CR_G[r]) >> 16));
    out[3 * i + 2] = clamp255(Y + CB_B[b]);
  }
}

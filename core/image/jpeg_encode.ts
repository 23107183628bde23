/**
 * A baseline JPEG encoder of our own, so `prepare` needs no native library (imagescript's encoder is an FFI
 * addon that exists only for some platforms and needs --allow-ffi).
 *
 * It follows what PIL/libjpeg write by default for `quality` (hp-method.md §9.4: five-crops are saved with
 * PIL's default quality 75): JFIF, YCbCr with 4:2:0 chroma subsampling (2×2 box average), the IJG quality
 * scaling of the Annex K quantisation tables, and the Annex K Huffman tables. The DCT is a float
 * separable one (libjpeg uses an integer one), so bytes differ from PIL's while the decoded pixels agree to
 * within normal JPEG error. Output is deterministic.
 * @module
 */

// deno-fmt-ignore
const ZIGZAG = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
]);

// Annex K.1 tables in natural (row-major) order.
// deno-fmt-ignore
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
  29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87,
  103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
// deno-fmt-ignore
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

// Annex K.3 Huffman tables: code counts per length 1..16, then symbols.
const DC_LUMA = {
  bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
  vals: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};
const DC_CHROMA = {
  bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
  vals: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};
const AC_LUMA = {
  bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  vals: hex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa",
  ),
};
const AC_CHROMA = {
  bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  vals: hex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa",
  ),
};

function hex(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i += 2) out.push(parseInt(s.slice(i, i + 2), 16));
  return out;
}

/** Canonical Huffman codes: symbol → [code, length]. */
function buildCodes(t: { bits: number[]; vals: number[] }): { code: Int32Array; len: Int32Array } {
  const code = new Int32Array(256), len = new Int32Array(256);
  let c = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    for (let i = 0; i < t.bits[l - 1]; i++) {
      code[t.vals[k]] = c;
      len[t.vals[k]] = l;
      c++;
      k++;
    }
    c <<= 1;
  }
  return { code, len };
}

/** IJG quality scaling (jcparam.c semantics): quality 1..100 → table entries clamped to 1..255. */
export function scaledQuant(base: number[], quality: number): Int32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return Int32Array.from(base, (v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

const COS = (() => {
  const c = new Float64Array(64);
  for (let x = 0; x < 8; x++) {
    for (let u = 0; u < 8; u++) {
      c[x * 8 + u] = Math.cos(((2 * x + 1) * u * Math.PI) / 16) * (u === 0 ? Math.SQRT1_2 : 1);
    }
  }
  return c;
})();

/** Reference 8×8 forward DCT (JPEG's ¼·C(u)·C(v) convention) of `blk`, into `out` (natural order). */
export function fdctReference(blk: Float64Array, out: Float64Array, tmp: Float64Array): void {
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += blk[y * 8 + x] * COS[x * 8 + u];
      tmp[y * 8 + u] = s / 2;
    }
  }
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += tmp[y * 8 + u] * COS[y * 8 + v];
      out[v * 8 + u] = s / 2;
    }
  }
}

class BitWriter {
  bytes = new Uint8Array(1 << 16);
  length = 0;
  #acc = 0;
  #n = 0;
  #byte(b: number): void {
    if (this.length + 2 > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = b;
    if (b === 0xff) this.bytes[this.length++] = 0; // byte stuffing
  }
  /** Appends the low `len` (≤ 16) bits of `code`, most significant first. */
  put(code: number, len: number): void {
    this.#acc = (this.#acc << len) | (code & ((1 << len) - 1));
    this.#n += len;
    while (this.#n >= 8) {
      this.#n -= 8;
      this.#byte((this.#acc >>> this.#n) & 255);
    }
    this.#acc &= (1 << this.#n) - 1;
  }
  flush(): void {
    if (this.#n > 0) this.put((1 << (8 - this.#n)) - 1, 8 - this.#n); // pad with ones
  }
}

const AAN = Float64Array.from(
  [0, 1, 2, 3, 4, 5, 6, 7],
  (k) => (k === 0 ? 1 : Math.cos((k * Math.PI) / 16) * Math.SQRT2),
);

/**
 * Fast float DCT (Arai–Agui–Nakajima flow graph, as in libjpeg's jfdctflt): in place on `d`, leaving
 * coefficient (v,u) scaled by 8·AAN[u]·AAN[v] — the scale is folded into the quantisation divisors.
 */
export function fdctAan(d: Float64Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const step = pass === 0 ? 1 : 8, stride = pass === 0 ? 8 : 1;
    for (let r = 0; r < 8; r++) {
      const o = r * stride;
      const d0 = d[o], d1 = d[o + step], d2 = d[o + 2 * step], d3 = d[o + 3 * step];
      const d4 = d[o + 4 * step], d5 = d[o + 5 * step], d6 = d[o + 6 * step], d7 = d[o + 7 * step];
      const t0 = d0 + d7, t7 = d0 - d7, t1 = d1 + d6, t6 = d1 - d6;
      const t2 = d2 + d5, t5 = d2 - d5, t3 = d3 + d4, t4 = d3 - d4;
      let t10 = t0 + t3, t11 = t1 + t2, t12 = t1 - t2;
      const t13 = t0 - t3;
      d[o] = t10 + t11;
      d[o + 4 * step] = t10 - t11;
      const z1 = (t12 + t13) * 0.707106781186548;
      d[o + 2 * step] = t13 + z1;
      d[o + 6 * step] = t13 - z1;
      t10 = t4 + t5;
      t11 = t5 + t6;
      t12 = t6 + t7;
      const z5 = (t10 - t12) * 0.382683432365090;
      const z2 = 0.541196100146197 * t10 + z5;
      const z4 = 1.306562964876377 * t12 + z5;
      const z3 = t11 * 0.707106781186548;
      const z11 = t7 + z3, z13 = t7 - z3;
      d[o + 5 * step] = z13 + z2;
      d[o + 3 * step] = z13 - z2;
      d[o + step] = z11 + z4;
      d[o + 7 * step] = z11 - z4;
    }
  }
}

function category(v: number): number {
  let a = Math.abs(v), n = 0;
  while (a) {
    a >>= 1;
    n++;
  }
  return n;
}

/** Encodes 8-bit RGB (interleaved) as a baseline JFIF JPEG with 4:2:0 chroma subsampling. */
export function encodeJpegBaseline(width: number, height: number, rgb: Uint8Array, quality = 75): Uint8Array {
  const qY = scaledQuant(LUMA_Q, quality), qC = scaledQuant(CHROMA_Q, quality);
  const dcY = buildCodes(DC_LUMA),
    acY = buildCodes(AC_LUMA),
    dcC = buildCodes(DC_CHROMA),
    acC = buildCodes(AC_CHROMA);
  // Planes padded to whole 16×16 MCUs by edge replication (as libjpeg does).
  const W16 = Math.ceil(width / 16) * 16, H16 = Math.ceil(height / 16) * 16;
  const Y = new Float64Array(W16 * H16), Cb = new Float64Array(W16 * H16), Cr = new Float64Array(W16 * H16);
  for (let y = 0; y < H16; y++) {
    const sy = Math.min(y, height - 1);
    for (let x = 0; x < W16; x++) {
      const s = (sy * width + Math.min(x, width - 1)) * 3, d = y * W16 + x;
      const r = rgb[s], g = rgb[s + 1], b = rgb[s + 2];
      Y[d] = 0.299 * r + 0.587 * g + 0.114 * b;
      Cb[d] = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128;
      Cr[d] = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128;
    }
  }
  const W8 = W16 / 2, H8 = H16 / 2;
  const sub = (P: Float64Array) => {
    const o = new Float64Array(W8 * H8);
    for (let y = 0; y < H8; y++) {
      for (let x = 0; x < W8; x++) {
        const i = 2 * y * W16 + 2 * x;
        o[y * W8 + x] = (P[i] + P[i + 1] + P[i + W16] + P[i + W16 + 1]) / 4;
      }
    }
    return o;
  };
  const Cb2 = sub(Cb), Cr2 = sub(Cr);
  const bw = new BitWriter();
  const blk = new Float64Array(64);
  // Reciprocal divisors with the AAN output scale folded in.
  const inv = (t: Int32Array) => Float64Array.from(t, (v, i) => 1 / (v * 8 * AAN[i >> 3] * AAN[i & 7]));
  const iqY = inv(qY), iqC = inv(qC);
  const pred = [0, 0, 0];
  const zz = new Int32Array(64);
  const block = (
    P: Float64Array,
    stride: number,
    x0: number,
    y0: number,
    q: Float64Array,
    dc: ReturnType<typeof buildCodes>,
    ac: ReturnType<typeof buildCodes>,
    comp: number,
  ) => {
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) blk[y * 8 + x] = P[(y0 + y) * stride + x0 + x] - 128;
    }
    fdctAan(blk);
    for (let k = 0; k < 64; k++) zz[k] = Math.round(blk[ZIGZAG[k]] * q[ZIGZAG[k]]);
    const diff = zz[0] - pred[comp];
    pred[comp] = zz[0];
    const c0 = category(diff);
    bw.put(dc.code[c0], dc.len[c0]);
    if (c0) bw.put(diff < 0 ? diff + (1 << c0) - 1 : diff, c0);
    let run = 0;
    for (let k = 1; k < 64; k++) {
      const v = zz[k];
      if (v === 0) {
        run++;
        continue;
      }
      while (run > 15) {
        bw.put(ac.code[0xf0], ac.len[0xf0]);
        run -= 16;
      }
      const c = category(v), sym = (run << 4) | c;
      bw.put(ac.code[sym], ac.len[sym]);
      bw.put(v < 0 ? v + (1 << c) - 1 : v, c);
      run = 0;
    }
    if (run > 0) bw.put(ac.code[0], ac.len[0]);
  };
  for (let my = 0; my < H16; my += 16) {
    for (let mx = 0; mx < W16; mx += 16) {
      block(Y, W16, mx, my, iqY, dcY, acY, 0);
      block(Y, W16, mx + 8, my, iqY, dcY, acY, 0);
      block(Y, W16, mx, my + 8, iqY, dcY, acY, 0);
      block(Y, W16, mx + 8, my + 8, iqY, dcY, acY, 0);
      block(Cb2, W8, mx / 2, my / 2, iqC, dcC, acC, 1);
      block(Cr2, W8, mx / 2, my / 2, iqC, dcC, acC, 2);
    }
  }
  bw.flush();

  const out: number[] = [0xff, 0xd8];
  const seg = (marker: number, body: number[]) =>
    out.push(0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body);
  seg(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]); // JFIF 1.01, aspect 1:1
  seg(0xdb, [0, ...Array.from(ZIGZAG, (z) => qY[z]), 1, ...Array.from(ZIGZAG, (z) => qC[z])]);
  seg(0xc0, [8, height >> 8, height & 255, width >> 8, width & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  seg(0xc4, [
    0x00,
    ...DC_LUMA.bits,
    ...DC_LUMA.vals,
    0x10,
    ...AC_LUMA.bits,
    ...AC_LUMA.vals,
    0x01,
    ...DC_CHROMA.bits,
    ...DC_CHROMA.vals,
    0x11,
    ...AC_CHROMA.bits,
    ...AC_CHROMA.vals,
  ]);
  seg(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
  const head = Uint8Array.from(out);
  const result = new Uint8Array(head.length + bw.length + 2);
  result.set(head, 0);
  result.set(bw.bytes.subarray(0, bw.length), head.length);
  result[result.length - 2] = 0xff;
  result[result.length - 1] = 0xd9;
  return result;
}

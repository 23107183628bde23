/**
 * A JPEG decoder that reproduces libjpeg-turbo's default output bit for bit (what PIL, and so PyTorch
 * pipelines, see), for `hpseg features` parity on JPEG inputs (issue 3 acceptance: features within 1e-4 of
 * PyTorch). imagescript's WASM decoder differs from libjpeg by up to 3 grey levels on ~7 % of samples,
 * which moves ViT-S/16 features by ~3e-2.
 *
 * Reproduced libjpeg-turbo defaults: Huffman baseline/extended (SOF0/1) and progressive (SOF2) 8-bit scans
 * with restart intervals; dequantisation + the "islow" integer IDCT (jidctint.c, CONST_BITS 13, PASS1_BITS 2)
 * with its wrapping range-limit table; "fancy" triangle upsampling for h2v1, h2v2 and h1v2 chroma (edge rows
 * replicated as jdmainct.c does), box replication for other ratios; YCbCr→RGB with jdcolor.c's 16-bit
 * fixed-point tables; colour space chosen as jdapimin.c does (JFIF / Adobe transform / component ids).
 * Anything else (arithmetic coding, 12-bit, lossless, CMYK/YCCK, DNL) raises {@link JpegUnsupported} so
 * the caller can fall back to another decoder.
 * @module
 */

/** A feature this decoder does not implement (the caller may fall back to another decoder). */
export class JpegUnsupported extends Error {
  override name = "JpegUnsupported";
}

/** 8-bit RGB, interleaved, row-major. */
export interface JpegImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const ZIGZAG = Int32Array.from([
  0,
  1,
  8,
  16,
  9,
  2,
  3,
  10,
  17,
  24,
  32,
  25,
  18,
  11,
  4,
  5,
  12,
  19,
  26,
  33,
  40,
  48,
  41,
  34,
  27,
  20,
  13,
  6,
  7,
  14,
  21,
  28,
  35,
  42,
  49,
  56,
  57,
  50,
  43,
  36,
  29,
  22,
  15,
  23,
  30,
  37,
  44,
  51,
  58,
  59,
  52,
  45,
  38,
  31,
  39,
  46,
  53,
  60,
  61,
  54,
  47,
  55,
  62,
  63,
  // libjpeg pads with 63s so a corrupt run past the end stays inside the block.
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
  63,
]);

interface Huffman {
  maxcode: Int32Array; // [18], index = code length
  valoffset: Int32Array;
  values: Uint8Array;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Blocks per line / column of the component itself (ceil of its size / 8). */
  bw: number;
  bh: number;
  /** Blocks per line / column padded to whole MCUs. */
  bwMcu: number;
  bhMcu: number;
  coeffs: Int32Array;
  pred: number;
  dc?: Huffman;
  ac?: Huffman;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1);
  const valoffset = new Int32Array(18);
  let code = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    if (n) {
      valoffset[len] = k - code;
      code += n;
      k += n;
      maxcode[len] = code - 1;
    }
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { maxcode, valoffset, values };
}

class BitReader {
  bits = 0;
  nbits = 0;
  /** Set when a marker was hit inside entropy data; zeros are fed from then on (as libjpeg does). */
  hitMarker = false;
  constructor(readonly d: Uint8Array, public pos: number) {}

  #fill(): void {
    while (this.nbits <= 24) {
      let byte = 0;
      if (!this.hitMarker && this.pos < this.d.length) {
        byte = this.d[this.pos];
        if (byte === 0xff) {
          const next = this.d[this.pos + 1];
          if (next === 0x00) this.pos += 2;
          else {
            this.hitMarker = true;
            byte = 0;
          }
        } else this.pos++;
      }
      this.bits = ((this.bits << 8) | byte) >>> 0;
      this.nbits += 8;
    }
  }

  bit(): number {
    if (this.nbits === 0) this.#fill();
    this.nbits--;
    return (this.bits >>> this.nbits) & 1;
  }

  receive(n: number): number {
    if (n === 0) return 0;
    if (this.nbits < n) this.#fill();
    this.nbits -= n;
    return (this.bits >>> this.nbits) & ((1 << n) - 1);
  }

  decode(h: Huffman): number {
    let code = this.bit(), len = 1;
    while (code > h.maxcode[len]) {
      code = (code << 1) | this.bit();
      if (++len > 16) return 0; // corrupt data: libjpeg warns and uses 0
    }
    return h.values[code + h.valoffset[len]] ?? 0;
  }

  /** Restart: drop remaining bits, skip the RSTn marker. */
  restart(): void {
    this.bits = 0;
    this.nbits = 0;
    this.hitMarker = false;
    while (
      this.pos + 1 < this.d.length &&
      !(this.d[this.pos] === 0xff && this.d[this.pos + 1] >= 0xd0 && this.d[this.pos + 1] <= 0xd7)
    ) {
      this.pos++;
    }
    if (this.pos + 1 < this.d.length) this.pos += 2;
  }

  /** Byte position of the marker that ends the scan. */
  end(): number {
    let p = this.pos;
    while (
      p + 1 < this.d.length &&
      !(this.d[p] === 0xff && this.d[p + 1] !== 0 && !(this.d[p + 1] >= 0xd0 && this.d[p + 1] <= 0xd7))
    ) p++;
    return p;
  }
}

function extend(v: number, s: number): number {
  return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
}

/**
 * Decodes a JPEG to RGB exactly as libjpeg-turbo does with its default settings.
 * @throws JpegUnsupported for features outside baseline/progressive Huffman 8-bit gray/YCbCr/RGB;
 *   Error for malformed files.
 */
export function decodeJpegExact(d: Uint8Array): JpegImage {
  if (d[0] !== 0xff || d[1] !== 0xd8) throw new Error("not a JPEG file (no SOI marker)");
  const qt: Int32Array[] = [];
  const dcTables: Huffman[] = [], acTables: Huffman[] = [];
  let comps: Component[] = [];
  let width = 0, height = 0, hmax = 1, vmax = 1, mcusX = 0, mcusY = 0, progressive = false;
  let restartInterval = 0, sawJfif = false, adobe = -1, eobrun = 0;
  let pos = 2;
  const u16 = (p: number) => (d[p] << 8) | d[p + 1];
  for (;;) {
    while (pos < d.length && d[pos] !== 0xff) pos++;
    while (pos < d.length && d[pos] === 0xff) pos++;
    if (pos >= d.length) break; // missing EOI: libjpeg tolerates it
    const m = d[pos++];
    if (m === 0xd9) break;
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) continue;
    const len = u16(pos);
    const seg = pos + 2, segEnd = pos + len;
    if (segEnd > d.length) throw new Error("JPEG is truncated (segment runs past the end)");
    pos = segEnd;
    if (m === 0xc0 || m === 0xc1 || m === 0xc2) {
      progressive = m === 0xc2;
      if (d[seg] !== 8) throw new JpegUnsupported(`${d[seg]}-bit samples`);
      height = u16(seg + 1);
      width = u16(seg + 3);
      if (height === 0) throw new JpegUnsupported("height given by a DNL marker");
      const n = d[seg + 5];
      if (n !== 1 && n !== 3) throw new JpegUnsupported(`${n} colour components (CMYK/YCCK)`);
      comps = [];
      for (let i = 0; i < n; i++) {
        const b = seg + 6 + 3 * i;
        comps.push({ id: d[b], h: d[b + 1] >> 4, v: d[b + 1] & 15, tq: d[b + 2] } as Component);
      }
      hmax = Math.max(...comps.map((c) => c.h));
      vmax = Math.max(...comps.map((c) => c.v));
      mcusX = Math.ceil(width / (8 * hmax));
      mcusY = Math.ceil(height / (8 * vmax));
      for (const c of comps) {
        c.bw = Math.ceil(Math.ceil((width * c.h) / hmax) / 8);
        c.bh = Math.ceil(Math.ceil((height * c.v) / vmax) / 8);
        c.bwMcu = mcusX * c.h;
        c.bhMcu = mcusY * c.v;
        c.coeffs = new Int32Array(c.bwMcu * c.bhMcu * 64);
      }
    } else if (m >= 0xc3 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      throw new JpegUnsupported(`SOF marker 0x${m.toString(16)} (lossless or arithmetic coding)`);
    } else if (m === 0xc4) {
      let p = seg;
      while (p < segEnd) {
        const tc = d[p] >> 4, th = d[p] & 15;
        const counts = d.subarray(p + 1, p + 17);
        const total = counts.reduce((a, b) => a + b, 0);
        const t = buildHuffman(counts, d.slice(p + 17, p + 17 + total));
        (tc === 0 ? dcTables : acTables)[th] = t;
        p += 17 + total;
      }
    } else if (m === 0xdb) {
      let p = seg;
      while (p < segEnd) {
        const pq = d[p] >> 4, tq = d[p] & 15;
        const t = new Int32Array(64);
        for (let i = 0; i < 64; i++) t[ZIGZAG[i]] = pq ? u16(p + 1 + 2 * i) : d[p + 1 + i];
        qt[tq] = t;
        p += 1 + (pq ? 128 : 64);
      }
    } else if (m === 0xdd) {
      restartInterval = u16(seg);
    } else if (m === 0xe0) {
      if (
        d[seg] === 0x4a && d[seg + 1] === 0x46 && d[seg + 2] === 0x49 && d[seg + 3] === 0x46 &&
        d[seg + 4] === 0
      ) {
        sawJfif = true;
      }
    } else if (m === 0xee) {
      if (len >= 14 && String.fromCharCode(...d.subarray(seg, seg + 5)) === "Adobe") adobe = d[seg + 11];
    } else if (m === 0xda) {
      if (!comps.length) throw new Error("JPEG scan before the frame header");
      const ns = d[seg];
      const sc: Component[] = [];
      for (let i = 0; i < ns; i++) {
        const c = comps.find((x) => x.id === d[seg + 1 + 2 * i]);
        if (!c) throw new Error("JPEG scan names an unknown component");
        c.dc = dcTables[d[seg + 2 + 2 * i] >> 4];
        c.ac = acTables[d[seg + 2 + 2 * i] & 15];
        sc.push(c);
      }
      const p = seg + 1 + 2 * ns;
      const ss = d[p], se = d[p + 1], ah = d[p + 2] >> 4, al = d[p + 2] & 15;
      for (const c of sc) {
        const needDc = ss === 0 && ah === 0, needAc = !progressive || ss > 0;
        if ((needDc && !c.dc) || (needAc && !c.ac)) {
          throw new Error("JPEG scan uses an undefined Huffman table");
        }
      }
      const br = new BitReader(d, segEnd);
      for (const c of sc) c.pred = 0;
      eobrun = 0;
      const decodeBlock = (c: Component, blk: number) => {
        const co = c.coeffs, o = blk * 64;
        if (!progressive) {
          const t = br.decode(c.dc!);
          c.pred += t ? extend(br.receive(t), t) : 0;
          co[o] = c.pred;
          for (let k = 1; k < 64;) {
            const rs = br.decode(c.ac!), s = rs & 15, r = rs >> 4;
            if (s === 0) {
              if (r < 15) break;
              k += 16;
              continue;
            }
            k += r;
            co[o + ZIGZAG[k]] = extend(br.receive(s), s);
            k++;
          }
        } else if (ss === 0) {
          if (ah === 0) {
            const t = br.decode(c.dc!);
            c.pred += t ? extend(br.receive(t), t) : 0;
            co[o] = c.pred * (1 << al);
          } else if (br.bit()) co[o] |= 1 << al;
        } else if (ah === 0) {
          if (eobrun > 0) {
            eobrun--;
            return;
          }
          for (let k = ss; k <= se;) {
            const rs = br.decode(c.ac!), s = rs & 15, r = rs >> 4;
            if (s === 0) {
              if (r < 15) {
                eobrun = (1 << r) - 1 + (r ? br.receive(r) : 0);
                break;
              }
              k += 16;
              continue;
            }
            k += r;
            co[o + ZIGZAG[k]] = extend(br.receive(s), s) * (1 << al);
            k++;
          }
        } else {
          refineAc(br, c.ac!, co, o, ss, se, al);
        }
      };
      // AC refinement keeps its EOB run across blocks; it lives in a closure shared with refineAc.
      let refineEob = 0;
      const refineAc = (
        b: BitReader,
        ac: Huffman,
        co: Int32Array,
        o: number,
        s0: number,
        s1: number,
        a: number,
      ) => {
        const p1 = 1 << a, m1 = -1 << a;
        let k = s0;
        const correct = (idx: number) => {
          if (b.bit() && (co[idx] & p1) === 0) co[idx] += co[idx] >= 0 ? p1 : m1;
        };
        if (refineEob === 0) {
          for (; k <= s1; k++) {
            const rs = b.decode(ac);
            let s = rs & 15, r = rs >> 4;
            if (s) s = b.bit() ? p1 : m1;
            else if (r !== 15) {
              refineEob = (1 << r) + (r ? b.receive(r) : 0);
              break;
            }
            do {
              const idx = o + ZIGZAG[k];
              if (co[idx] !== 0) correct(idx);
              else if (--r < 0) break;
              k++;
            } while (k <= s1);
            if (s) co[o + ZIGZAG[k]] = s;
          }
        }
        if (refineEob > 0) {
          for (; k <= s1; k++) {
            const idx = o + ZIGZAG[k];
            if (co[idx] !== 0) correct(idx);
          }
          refineEob--;
        }
      };
      let mcu = 0;
      const restartCheck = () => {
        if (restartInterval && mcu > 0 && mcu % restartInterval === 0) {
          br.restart();
          for (const c of sc) c.pred = 0;
          eobrun = 0;
          refineEob = 0;
        }
      };
      if (sc.length === 1) {
        // Non-interleaved: the component's own block grid (not padded to MCUs).
        const c = sc[0];
        for (let by = 0; by < c.bh; by++) {
          for (let bx = 0; bx < c.bw; bx++) {
            restartCheck();
            decodeBlock(c, by * c.bwMcu + bx);
            mcu++;
          }
        }
      } else {
        for (let my = 0; my < mcusY; my++) {
          for (let mx = 0; mx < mcusX; mx++) {
            restartCheck();
            for (const c of sc) {
              for (let v = 0; v < c.v; v++) {
                for (let h = 0; h < c.h; h++) decodeBlock(c, (my * c.v + v) * c.bwMcu + mx * c.h + h);
              }
            }
            mcu++;
          }
        }
      }
      pos = br.end();
    }
    // APPn, COM and other segments are skipped.
  }
  if (!comps.length || !width) throw new Error("JPEG has no frame header");
  // IDCT every block into component planes, then upsample and convert colour.
  const planes = comps.map((c) => {
    const q = qt[c.tq];
    if (!q) throw new Error(`JPEG component ${c.id} uses a missing quantisation table ${c.tq}`);
    const stride = c.bwMcu * 8;
    const plane = new Uint8Array(stride * c.bhMcu * 8);
    const ws = new Int32Array(64);
    for (let by = 0; by < c.bhMcu; by++) {
      for (let bx = 0; bx < c.bwMcu; bx++) {
        idctIslow(c.coeffs, (by * c.bwMcu + bx) * 64, q, ws, plane, by * 8 * stride + bx * 8, stride);
      }
    }
    const cw = Math.ceil((width * c.h) / hmax), ch = Math.ceil((height * c.v) / vmax);
    return upsample(plane, stride, cw, ch, hmax / c.h, vmax / c.v, width, height);
  });
  const out = new Uint8Array(width * height * 3);
  const n = width * height;
  if (comps.length === 1) {
    const y = planes[0];
    for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = y[i];
    return { width, height, data: out };
  }
  // jdapimin.c default_decompress_parms: JFIF → YCbCr; Adobe transform 0 → RGB; ids 'R','G','B' → RGB.
  let rgb = false;
  if (sawJfif) rgb = false;
  else if (adobe >= 0) rgb = adobe === 0;
  else rgb = comps[0].id === 82 && comps[1].id === 71 && comps[2].id === 66;
  const [p0, p1, p2] = planes;
  if (rgb) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = p0[i];
      out[3 * i + 1] = p1[i];
      out[3 * i + 2] = p2[i];
    }
    return { width, height, data: out };
  }
  for (let i = 0; i < n; i++) {
    const y = p0[i], cb = p1[i], cr = p2[i];
    out[3 * i] = clamp255(y + CR_R[cr]);
    out[3 * i + 1] = clamp255(y + ((CB_G[cb] + CR_G[cr]) >> 16));
    out[3 * i + 2] = clamp255(y + CB_B[cb]);
  }
  return { width, height, data: out };
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

function idctIslow(
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
function upsample(
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
  if (fx === 2 && fy === 1) {
    for (let y = 0; y < ch; y++) {
      const r = y * stride;
      if (cw === 1) {
        put(y, 0, p[r]);
        put(y, 1, p[r]);
        continue;
      }
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
  if (fx === 2 && fy === 2) {
    for (let y = 0; y < ch; y++) {
      for (let v = 0; v < 2; v++) {
        const r0 = row(y), r1 = row(v === 0 ? y - 1 : y + 1), oy = 2 * y + v;
        if (oy >= H) continue;
        const col = (x: number) => p[r0 + x] * 3 + p[r1 + x];
        if (cw === 1) {
          put(oy, 0, (col(0) * 4 + 8) >> 4);
          put(oy, 1, (col(0) * 4 + 7) >> 4);
          continue;
        }
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
  if (fx === 1 && fy === 2) {
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

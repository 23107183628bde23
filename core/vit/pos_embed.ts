/**
 * Position-embedding table for an input size (dino-backbone.md §1.3, hp-method.md §2.1; DINOv2's own rules), computed
 * once per (gh, gw) on the CPU in float64 and uploaded once. Two resize rules, both reproducing PyTorch's
 * `F.interpolate(mode="bicubic", align_corners=False)` of the learned G×G grid, separable, per channel:
 *
 * - "offset" (DINO v1, and DINOv2 without registers): called with a scale factor s = (g + 0.1)/G per axis.
 *   Output size g, source coordinate x = (o + ½)·G/(g + 0.1) − ½ (not G/g), taps ⌊x⌋−1 … ⌊x⌋+2 clamped to
 *   [0, G−1], Keys' cubic with A = −0.75, no antialiasing.
 * - "antialias" (DINOv2 with registers, `antialias=True`, exact output size): Pillow's bicubic filter, the
 *   one PyTorch's `_upsample_bicubic2d_aa` implements. Per output index o with scale s = G/g: centre
 *   c = s·(o + ½); support r = 2·s when shrinking (s ≥ 1), else 2; taps j ∈ [trunc(c − r + ½), trunc(c + r + ½))
 *   clipped to [0, G); weight of tap j = K((j − c + ½)/max(s, 1)) with Keys' cubic K at A = −0.5 (zero beyond
 *   |t| ≥ 2), renormalised to sum 1.
 *
 * The CLS row is never resized. No resize happens when the grid is already G×G (square inputs at the
 * pretraining size: 224 px for DINO, 518 px for DINOv2).
 * @module
 */

/** How pos_embed is resized to another grid (see the module comment). */
export type PosResize = "offset" | "antialias";

function cubic1(x: number, A: number): number {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
function cubic2(x: number, A: number): number {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/** One axis of a separable resize: output o reads `idx[o·taps + j]` with weight `w[o·taps + j]`. */
export interface AxisTaps {
  taps: number;
  idx: Int32Array;
  w: Float64Array;
}

/** The "offset" rule's taps: 4 clamped source taps per output index (A = −0.75, scale (out + 0.1)/src). */
export function bicubicTaps(src: number, out: number): AxisTaps {
  const A = -0.75;
  const inv = src / (out + 0.1); // 1/scale with scale = (out + 0.1)/src
  const idx = new Int32Array(4 * out);
  const w = new Float64Array(4 * out);
  for (let o = 0; o < out; o++) {
    const x = (o + 0.5) * inv - 0.5;
    const i0 = Math.floor(x);
    const t = x - i0;
    const ws = [cubic2(t + 1, A), cubic1(t, A), cubic1(1 - t, A), cubic2(2 - t, A)];
    for (let j = 0; j < 4; j++) {
      idx[4 * o + j] = Math.min(Math.max(i0 - 1 + j, 0), src - 1);
      w[4 * o + j] = ws[j];
    }
  }
  return { taps: 4, idx, w };
}

/** Pillow's bicubic kernel (A = −0.5), zero for |x| ≥ 2. */
function aaCubic(x: number): number {
  const A = -0.5;
  x = Math.abs(x);
  if (x < 1) return cubic1(x, A);
  if (x < 2) return cubic2(x, A);
  return 0;
}

/** The "antialias" rule's taps (exact output size; shrinking stretches the kernel by src/out). */
export function antialiasTaps(src: number, out: number): AxisTaps {
  const scale = src / out;
  const support = scale >= 1 ? 2 * scale : 2;
  const invscale = scale >= 1 ? 1 / scale : 1;
  const taps = Math.ceil(support) * 2 + 1; // PyTorch's max_interp_size
  const idx = new Int32Array(taps * out);
  const w = new Float64Array(taps * out);
  for (let o = 0; o < out; o++) {
    const center = scale * (o + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), src) - lo;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const v = aaCubic((j + lo - center + 0.5) * invscale);
      w[taps * o + j] = v;
      total += v;
    }
    for (let j = 0; j < taps; j++) {
      idx[taps * o + j] = j < n ? lo + j : lo; // unused taps: weight 0 on a valid index
      if (j < n && total !== 0) w[taps * o + j] /= total;
    }
  }
  return { taps, idx, w };
}

/**
 * Resizes a channels-last grid [G, G, C] (row-major, row = y) to [gh, gw, C] with `rule`.
 * @returns float64 [gh·gw·C]
 */
export function resizeGrid(
  grid: ArrayLike<number>,
  G: number,
  C: number,
  gh: number,
  gw: number,
  rule: PosResize = "offset",
): Float64Array {
  const taps = rule === "antialias" ? antialiasTaps : bicubicTaps;
  const ty = taps(G, gh), tx = taps(G, gw);
  // Rows first (y), then columns (x); the filter is separable so the order does not matter.
  const mid = new Float64Array(gh * G * C);
  for (let o = 0; o < gh; o++) {
    for (let j = 0; j < ty.taps; j++) {
      const sy = ty.idx[ty.taps * o + j], wy = ty.w[ty.taps * o + j];
      if (wy === 0) continue;
      for (let x = 0; x < G; x++) {
        const s = (sy * G + x) * C, d = (o * G + x) * C;
        for (let c = 0; c < C; c++) mid[d + c] += wy * grid[s + c];
      }
    }
  }
  const out = new Float64Array(gh * gw * C);
  for (let y = 0; y < gh; y++) {
    for (let o = 0; o < gw; o++) {
      const d = (y * gw + o) * C;
      for (let j = 0; j < tx.taps; j++) {
        const sx = tx.idx[tx.taps * o + j], wx = tx.w[tx.taps * o + j];
        if (wx === 0) continue;
        const s = (y * G + sx) * C;
        for (let c = 0; c < C; c++) out[d + c] += wx * mid[s + c];
      }
    }
  }
  return out;
}

/**
 * The position table actually added for a gh×gw patch grid: row 0 is the CLS position, rows 1… the
 * (resized) patch positions in row-major order. `pos` is pos_embed flattened, [(G²+1)·C].
 * @returns float64 [(gh·gw + 1)·C]
 */
export function positionTable(
  pos: ArrayLike<number>,
  G: number,
  C: number,
  gh: number,
  gw: number,
  rule: PosResize = "offset",
): Float64Array {
  if (pos.length !== (G * G + 1) * C) {
    throw new TypeError(`positionTable: pos_embed has ${pos.length} values, expected (${G}²+1)·${C}`);
  }
  const out = new Float64Array((gh * gw + 1) * C);
  for (let c = 0; c < C; c++) out[c] = pos[c];
  if (gh === G && gw === G) {
    for (let i = C; i < out.length; i++) out[i] = pos[i];
    return out;
  }
  out.set(resizeGrid(Float64Array.from(pos).subarray(C), G, C, gh, gw, rule), C);
  return out;
}

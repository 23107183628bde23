/**
 * Position-embedding table for an input size (dino-backbone.md §1.3, hp-method.md §2.1): DINO's bicubic
 * resize of the learned G×G grid with the "+0.1" scale factor, computed once per (gh, gw) on the CPU in
 * float64 and uploaded once.
 *
 * PyTorch semantics reproduced (upsample_bicubic2d, align_corners=False, scale_factor given): output size
 * g, source coordinate x = (o + ½)·G/(g + 0.1) − ½ (not G/g), taps ⌊x⌋−1 … ⌊x⌋+2 clamped to [0, G−1],
 * Keys' cubic with A = −0.75, separable, no antialiasing. The CLS row is never resized. No resize happens
 * when the grid is already G×G (square inputs at the pretraining size).
 * @module
 */

const A = -0.75;

function cubic1(x: number): number {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
function cubic2(x: number): number {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/** For each output index of one axis: the 4 clamped source taps and their weights. */
export function bicubicTaps(src: number, out: number): { idx: Int32Array; w: Float64Array } {
  const inv = src / (out + 0.1); // 1/scale with scale = (out + 0.1)/src
  const idx = new Int32Array(4 * out);
  const w = new Float64Array(4 * out);
  for (let o = 0; o < out; o++) {
    const x = (o + 0.5) * inv - 0.5;
    const i0 = Math.floor(x);
    const t = x - i0;
    const ws = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
    for (let j = 0; j < 4; j++) {
      idx[4 * o + j] = Math.min(Math.max(i0 - 1 + j, 0), src - 1);
      w[4 * o + j] = ws[j];
    }
  }
  return { idx, w };
}

/**
 * Resizes a channels-last grid [G, G, C] (row-major, row = y) to [gh, gw, C] with the +0.1 bicubic rule.
 * @returns float64 [gh·gw·C]
 */
export function resizeGrid(
  grid: ArrayLike<number>,
  G: number,
  C: number,
  gh: number,
  gw: number,
): Float64Array {
  const ty = bicubicTaps(G, gh), tx = bicubicTaps(G, gw);
  // Rows first (y), then columns (x); the filter is separable so the order does not matter.
  const mid = new Float64Array(gh * G * C);
  for (let o = 0; o < gh; o++) {
    for (let j = 0; j < 4; j++) {
      const sy = ty.idx[4 * o + j], wy = ty.w[4 * o + j];
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
      for (let j = 0; j < 4; j++) {
        const sx = tx.idx[4 * o + j], wx = tx.w[4 * o + j];
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
  out.set(resizeGrid(Float64Array.from(pos).subarray(C), G, C, gh, gw), C);
  return out;
}

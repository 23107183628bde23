/**
 * Fully connected CRF with Gaussian edge potentials (Krähenbühl & Koltun 2011), mean-field inference with
 * high-dimensional filtering on the permutohedral lattice (Adams, Baek & Davis 2010). hp-method.md §8.5.
 *
 * Our own implementation of the published method, arranged as pydensecrf does it so results agree:
 * features are positions / sxy (and colours / srgb), the lattice is built once per kernel and image, every
 * filtering is splat → blur along the d+1 lattice directions with weights (1/2, 1, 1/2) → slice, the lattice
 * includes each pixel's own contribution, and kernels are normalised symmetrically:
 * K̃ Q = D^{−1/2} K D^{−1/2} Q with D = K·1. Potts compatibility: Q^{t+1} = softmax(−U + Σ_k w_k K̃_k Q^t).
 * Layouts: probabilities and Q are pixel-major [N, C] (channels last, N = y·W + x); images are RGB uint8
 * [N, 3].
 * @module
 */

import { latticeWasmModule, WasmArena } from "./crf_wasm.ts";

/** Kernel parameters; defaults are STEGO/HP's (hp-method.md §8.5). */
export interface CrfParams {
  iterations: number;
  /** Appearance-free smoothness kernel: positions / sxy, weight `compat`. */
  gaussian: { sxy: number; compat: number };
  /** Appearance kernel: positions / sxy and RGB (0–255) / srgb, weight `compat`. */
  bilateral: { sxy: number; srgb: number; compat: number };
}

/** HP's CRF settings: 10 iterations, Gaussian (1, 3), bilateral (67, 3, 4). */
export const HP_CRF: CrfParams = {
  iterations: 10,
  gaussian: { sxy: 1, compat: 3 },
  bilateral: { sxy: 67, srgb: 3, compat: 4 },
};

// ---------------------------------------------------------------------------------------------------
// Permutohedral lattice

/** Open-addressing hash from d-dimensional integer keys to dense lattice indices. */
class KeyTable {
  keys: Int32Array;
  #slots: Int32Array;
  #mask: number;
  count = 0;
  constructor(readonly d: number, capacity: number) {
    let size = 16;
    while (size < capacity * 2) size <<= 1;
    this.#slots = new Int32Array(size).fill(-1);
    this.#mask = size - 1;
    this.keys = new Int32Array(capacity * d);
  }

  #hash(key: Int32Array, off: number): number {
    let h = 0;
    for (let i = 0; i < this.d; i++) h = Math.imul(h + key[off + i], 2531011) ^ (h >>> 15);
    return h >>> 0;
  }

  /** Index of `key[off..off+d)`, inserting it when `create` (else −1 when absent). */
  find(key: Int32Array, off: number, create: boolean): number {
    const d = this.d, keys = this.keys, slots = this.#slots;
    let s = this.#hash(key, off) & this.#mask;
    for (;;) {
      const idx = slots[s];
      if (idx < 0) {
        if (!create) return -1;
        if ((this.count + 1) * 2 > slots.length) {
          this.#rehash();
          return this.find(key, off, create);
        }
        if ((this.count + 1) * d > keys.length) this.#growKeys();
        const base = this.count * d;
        for (let i = 0; i < d; i++) this.keys[base + i] = key[off + i];
        slots[s] = this.count;
        return this.count++;
      }
      let same = true;
      const base = idx * d;
      for (let i = 0; i < d; i++) {
        if (keys[base + i] !== key[off + i]) {
          same = false;
          break;
        }
      }
      if (same) return idx;
      s = (s + 1) & this.#mask;
    }
  }

  /** Doubles the slot table (keeps the load factor ≤ 1/2) and re-inserts every key. */
  #rehash(): void {
    const size = this.#slots.length * 2;
    this.#slots = new Int32Array(size).fill(-1);
    this.#mask = size - 1;
    for (let idx = 0; idx < this.count; idx++) {
      let s = this.#hash(this.keys, idx * this.d) & this.#mask;
      while (this.#slots[s] >= 0) s = (s + 1) & this.#mask;
      this.#slots[s] = idx;
    }
  }

  #growKeys(): void {
    const k = new Int32Array(this.keys.length * 2);
    k.set(this.keys);
    this.keys = k;
  }
}

/**
 * A permutohedral lattice over N points with d-dimensional features. Build once, then {@link compute}
 * Gaussian-filters any number of value channels: out_i ≈ Σ_j exp(−½‖f_i − f_j‖²) in_j (up to a constant
 * factor that symmetric normalisation cancels).
 */
export class Permutohedral {
  /** Lattice vertex (1-based; 0 = the empty vertex) of each point's d+1 simplex corners, [N, d+1]. */
  readonly offset: Int32Array;
  readonly weight: Float32Array;
  /** Number of lattice vertices. */
  readonly M: number;
  /** Blur neighbours (1-based, 0 = absent) per direction j: [j][vertex] → n1, n2. */
  readonly n1: Int32Array;
  readonly n2: Int32Array;

  /**
   * @param features [N, d] row-major
   * @param N number of points
   * @param d feature dimension
   */
  constructor(features: Float32Array, readonly N: number, readonly d: number) {
    const d1 = d + 1;
    const invStd = Math.sqrt(2 / 3) * d1;
    const scale = new Float64Array(d);
    for (let i = 0; i < d; i++) scale[i] = invStd / Math.sqrt((i + 1) * (i + 2));
    const canonical = new Int32Array(d1 * d1);
    for (let i = 0; i <= d; i++) {
      for (let j = 0; j <= d - i; j++) canonical[i * d1 + j] = i;
      for (let j = d - i + 1; j <= d; j++) canonical[i * d1 + j] = i - d1;
    }
    const table = new KeyTable(d, Math.max(16, N));
    this.offset = new Int32Array(N * d1);
    this.weight = new Float32Array(N * d1);
    const elevated = new Float64Array(d1), rem0 = new Float64Array(d1), bary = new Float64Array(d + 2);
    const rank = new Int32Array(d1), key = new Int32Array(d1);
    const down = 1 / d1;
    for (let p = 0; p < N; p++) {
      // Elevate onto the hyperplane Σx = 0 of R^{d+1}.
      let sm = 0;
      for (let j = d; j > 0; j--) {
        const cf = features[p * d + j - 1] * scale[j - 1];
        elevated[j] = sm - j * cf;
        sm += cf;
      }
      elevated[0] = sm;
      // Closest remainder-0 lattice point.
      let sum = 0;
      for (let i = 0; i <= d; i++) {
        const v = down * elevated[i];
        const up = Math.ceil(v) * d1, dn = Math.floor(v) * d1;
        rem0[i] = up - elevated[i] < elevated[i] - dn ? up : dn;
        sum += rem0[i];
      }
      sum *= down;
      // Rank the differential to find the enclosing simplex.
      rank.fill(0);
      for (let i = 0; i < d; i++) {
        const di = elevated[i] - rem0[i];
        for (let j = i + 1; j <= d; j++) {
          if (di < elevated[j] - rem0[j]) rank[i]++;
          else rank[j]++;
        }
      }
      for (let i = 0; i <= d; i++) {
        rank[i] += sum;
        if (rank[i] < 0) {
          rank[i] += d1;
          rem0[i] += d1;
        } else if (rank[i] > d) {
          rank[i] -= d1;
          rem0[i] -= d1;
        }
      }
      // Barycentric coordinates.
      bary.fill(0);
      for (let i = 0; i <= d; i++) {
        const v = (elevated[i] - rem0[i]) * down;
        bary[d - rank[i]] += v;
        bary[d - rank[i] + 1] -= v;
      }
      bary[0] += 1 + bary[d + 1];
      for (let r = 0; r <= d; r++) {
        for (let i = 0; i < d; i++) key[i] = rem0[i] + canonical[r * d1 + rank[i]];
        this.offset[p * d1 + r] = table.find(key, 0, true) + 1;
        this.weight[p * d1 + r] = bary[r];
      }
    }
    const M = table.count;
    this.M = M;
    this.n1 = new Int32Array(d1 * M);
    this.n2 = new Int32Array(d1 * M);
    const k1 = new Int32Array(d1), k2 = new Int32Array(d1);
    for (let j = 0; j <= d; j++) {
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < d; k++) {
          k1[k] = table.keys[i * d + k] - 1;
          k2[k] = table.keys[i * d + k] + 1;
        }
        if (j < d) {
          k1[j] = table.keys[i * d + j] + d;
          k2[j] = table.keys[i * d + j] - d;
        }
        this.n1[j * M + i] = table.find(k1, 0, false) + 1;
        this.n2[j * M + i] = table.find(k2, 0, false) + 1;
      }
    }
  }

  /**
   * Filters `input` [N, C]: out_i (+)= outScale_i · Σ_j K_ij · inScale_j · input_j.
   * `scratch` must hold ≥ 2·(M+1)·C floats. The optional per-point scales fold the symmetric
   * normalisation into the splat and the slice (no extra passes over [N, C]).
   * @param accumulate add into `out` instead of overwriting it
   */
  compute(
    out: Float32Array,
    input: Float32Array,
    C: number,
    scratch: Float32Array,
    inScale?: Float32Array,
    outScale?: Float32Array,
    accumulate = false,
  ): void {
    const { N, d, M, offset, weight, n1, n2 } = this;
    const d1 = d + 1, len = (M + 1) * C;
    let values = scratch.subarray(0, len), next = scratch.subarray(len, 2 * len);
    values.fill(0);
    next.fill(0, 0, C); // vertex 0 stays the zero row
    // Splat.
    for (let p = 0; p < N; p++) {
      const ib = p * C, s = inScale ? inScale[p] : 1;
      for (let r = 0; r < d1; r++) {
        const o = offset[p * d1 + r] * C, w = weight[p * d1 + r] * s;
        for (let k = 0; k < C; k++) values[o + k] += w * input[ib + k];
      }
    }
    // Blur along each lattice direction.
    for (let j = 0; j <= d; j++) {
      const jb = j * M;
      for (let i = 0; i < M; i++) {
        const ob = (i + 1) * C, a = n1[jb + i] * C, b = n2[jb + i] * C;
        for (let k = 0; k < C; k++) next[ob + k] = values[ob + k] + 0.5 * (values[a + k] + values[b + k]);
      }
      const t = values;
      values = next;
      next = t;
    }
    // Slice.
    const alpha = 1 / (1 + Math.pow(2, -d));
    for (let p = 0; p < N; p++) {
      const ob = p * C, s = alpha * (outScale ? outScale[p] : 1);
      if (!accumulate) { for (let k = 0; k < C; k++) out[ob + k] = 0; }
      for (let r = 0; r < d1; r++) {
        const o = offset[p * d1 + r] * C, w = weight[p * d1 + r] * s;
        for (let k = 0; k < C; k++) out[ob + k] += w * values[o + k];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Dense CRF

/** Feature vectors of the two kernels for an H×W image (pydensecrf order: x, y[, r, g, b]). */
export function crfFeatures(
  rgb: Uint8Array,
  H: number,
  W: number,
  p: CrfParams,
): { gaussian: Float32Array; bilateral: Float32Array } {
  const N = H * W;
  const gaussian = new Float32Array(N * 2), bilateral = new Float32Array(N * 5);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      gaussian[i * 2] = x / p.gaussian.sxy;
      gaussian[i * 2 + 1] = y / p.gaussian.sxy;
      bilateral[i * 5] = x / p.bilateral.sxy;
      bilateral[i * 5 + 1] = y / p.bilateral.sxy;
      for (let c = 0; c < 3; c++) bilateral[i * 5 + 2 + c] = rgb[i * 3 + c] / p.bilateral.srgb;
    }
  }
  return { gaussian, bilateral };
}

/** Unary −log(max(p, 1e-5)) of probabilities [N, C] (pydensecrf's unary_from_softmax). */
export function unaryFromProbs(probs: Float32Array): Float32Array {
  const u = new Float32Array(probs.length);
  for (let i = 0; i < probs.length; i++) u[i] = -Math.log(Math.max(probs[i], 1e-5));
  return u;
}

/** Row-wise softmax of `x` [N, C] into `out`. */
export function softmaxRows(out: Float32Array, x: Float32Array, C: number): void {
  const N = x.length / C;
  for (let i = 0; i < N; i++) {
    const b = i * C;
    let m = -Infinity;
    for (let k = 0; k < C; k++) if (x[b + k] > m) m = x[b + k];
    let s = 0;
    for (let k = 0; k < C; k++) {
      const e = Math.exp(x[b + k] - m);
      out[b + k] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let k = 0; k < C; k++) out[b + k] *= inv;
  }
}

/** A Gaussian kernel applied as D^{−1/2} K D^{−1/2} (symmetric normalisation). */
export interface NormalizedFilter {
  /** out = w · K̃ q added into `acc` [N, C]. */
  addFiltered(acc: Float32Array, q: Float32Array, C: number, w: number): void;
}

class LatticeFilter implements NormalizedFilter {
  readonly norm: Float32Array;
  #scaled: Float32Array;
  #scratch: Float32Array | null = null;
  constructor(readonly lattice: Permutohedral) {
    const N = lattice.N;
    const ones = new Float32Array(N).fill(1);
    this.norm = new Float32Array(N);
    lattice.compute(this.norm, ones, 1, new Float32Array(2 * (lattice.M + 1)));
    for (let i = 0; i < N; i++) this.norm[i] = 1 / Math.sqrt(this.norm[i] + 1e-20);
    this.#scaled = new Float32Array(N);
  }
  addFiltered(acc: Float32Array, q: Float32Array, C: number, w: number): void {
    const { N, M } = this.lattice;
    if (!this.#scratch || this.#scratch.length < 2 * (M + 1) * C) {
      this.#scratch = new Float32Array(2 * (M + 1) * C);
    }
    const outScale = this.#scaled;
    for (let i = 0; i < N; i++) outScale[i] = w * this.norm[i];
    this.lattice.compute(acc, q, C, this.#scratch, this.norm, outScale, true);
  }
}

/**
 * Mean-field inference with the given normalised filters: Q⁰ = softmax(−U),
 * Q^{t+1} = softmax(−U + Σ w_k K̃_k Q^t). Shared by the lattice CRF and the exact reference.
 * @returns Q [N, C]
 */
export function meanField(
  unary: Float32Array,
  C: number,
  filters: Array<{ filter: NormalizedFilter; weight: number }>,
  iterations: number,
  buffers?: { q: Float32Array; acc: Float32Array },
): Float32Array {
  const q = buffers?.q ?? new Float32Array(unary.length),
    acc = buffers?.acc ?? new Float32Array(unary.length);
  for (let i = 0; i < unary.length; i++) acc[i] = -unary[i];
  softmaxRows(q, acc, C);
  for (let t = 0; t < iterations; t++) {
    for (let i = 0; i < unary.length; i++) acc[i] = -unary[i];
    for (const { filter, weight } of filters) filter.addFiltered(acc, q, C, weight);
    softmaxRows(q, acc, C);
  }
  return q;
}

/** The lattice filter with the splat / blur / slice loops in WebAssembly SIMD (crf_wasm.ts). */
class WasmLatticeFilter implements NormalizedFilter {
  readonly norm: Float32Array;
  readonly #p: { off: number; wts: number; n1: number; n2: number; inScale: number; outScale: number };
  constructor(
    readonly lattice: Permutohedral,
    readonly wasm: WasmArena,
    readonly shared: { inp: number; out: number; a: number; b: number },
  ) {
    const { N, d, M } = lattice, d1 = d + 1;
    const norm = new Float32Array(N);
    lattice.compute(norm, new Float32Array(N).fill(1), 1, new Float32Array(2 * (M + 1)));
    for (let i = 0; i < N; i++) norm[i] = 1 / Math.sqrt(norm[i] + 1e-20);
    this.norm = norm;
    const put = (src: Int32Array | Float32Array) => {
      const ptr = wasm.alloc(src.length * 4);
      (src instanceof Int32Array ? wasm.i32(ptr, src.length) : wasm.f32(ptr, src.length)).set(src);
      return ptr;
    };
    this.#p = {
      off: put(lattice.offset),
      wts: put(lattice.weight),
      n1: put(lattice.n1),
      n2: put(lattice.n2),
      inScale: put(norm),
      outScale: wasm.alloc(N * 4),
    };
    void d1;
  }
  addFiltered(acc: Float32Array, q: Float32Array, C: number, w: number): void {
    const { N, d, M } = this.lattice, d1 = d + 1, rowB = C * 4, ex = this.wasm.ex, p = this.#p;
    const sh = this.shared;
    // meanField's q and acc normally live at sh.inp / sh.out already (no copy needed).
    const mem = this.wasm.ex.memory.buffer;
    const inPlace = q.buffer === mem && q.byteOffset === sh.inp && acc.buffer === mem &&
      acc.byteOffset === sh.out;
    if (!inPlace) {
      this.wasm.f32(sh.inp, N * C).set(q);
      this.wasm.f32(sh.out, N * C).set(acc);
    }
    const os = this.wasm.f32(p.outScale, N), alpha = 1 / (1 + Math.pow(2, -d));
    for (let i = 0; i < N; i++) os[i] = w * alpha * this.norm[i];
    this.wasm.f32(sh.a, (M + 1) * C).fill(0);
    this.wasm.f32(sh.b, C).fill(0);
    ex.splat(N, d1, rowB, p.off, p.wts, sh.inp, sh.a, p.inScale);
    let a = sh.a, b = sh.b;
    for (let j = 0; j <= d; j++) {
      ex.blur(M, rowB, p.n1 + j * M * 4, p.n2 + j * M * 4, a, b);
      [a, b] = [b, a];
    }
    ex.slice(N, d1, rowB, p.off, p.wts, a, sh.out, p.outScale, 1);
    if (!inPlace) acc.set(this.wasm.f32(sh.out, N * C));
  }
}

/** Which implementation of the lattice loops to use: WebAssembly SIMD (default when available) or JS. */
export type CrfEngine = "wasm" | "js";

/**
 * Dense CRF refinement of one image (hp-method.md §8.5).
 * @param probs class probabilities [H·W, C] (pixel-major)
 * @param rgb image [H·W, 3] uint8
 * @returns Q [H·W, C] after `params.iterations` mean-field steps
 */
export function denseCrf(
  probs: Float32Array,
  rgb: Uint8Array,
  H: number,
  W: number,
  C: number,
  params: CrfParams = HP_CRF,
  engine: CrfEngine = "wasm",
): Float32Array {
  const N = H * W;
  if (probs.length !== N * C) {
    throw new TypeError(`denseCrf: ${probs.length} probabilities for ${H}×${W}×${C}`);
  }
  if (rgb.length !== N * 3) throw new TypeError(`denseCrf: ${rgb.length} RGB values for ${H}×${W}×3`);
  const f = crfFeatures(rgb, H, W, params);
  const lg = new Permutohedral(f.gaussian, N, 2), lb = new Permutohedral(f.bilateral, N, 5);
  const module = engine === "wasm" ? latticeWasmModule() : null;
  if (!module) {
    return meanField(unaryFromProbs(probs), C, [
      { filter: new LatticeFilter(lg), weight: params.gaussian.compat },
      { filter: new LatticeFilter(lb), weight: params.bilateral.compat },
    ], params.iterations);
  }
  // Rows padded to a multiple of 4 channels; padding channels get unary +∞, so their Q is exactly 0.
  const Cp = Math.ceil(C / 4) * 4, Mmax = Math.max(lg.M, lb.M);
  const staticBytes = [lg, lb].reduce(
    (s, l) => s + 4 * (2 * N * (l.d + 1) + 2 * (l.d + 1) * l.M + 2 * N) + 64,
    0,
  );
  const wasm = new WasmArena(module, staticBytes + 4 * (2 * N * Cp + 2 * (Mmax + 1) * Cp) + 256);
  const shared = {
    inp: wasm.alloc(N * Cp * 4),
    out: wasm.alloc(N * Cp * 4),
    a: wasm.alloc((Mmax + 1) * Cp * 4),
    b: wasm.alloc((Mmax + 1) * Cp * 4),
  };
  const unary = new Float32Array(N * Cp).fill(Infinity);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < C; k++) unary[i * Cp + k] = -Math.log(Math.max(probs[i * C + k], 1e-5));
  }
  const qp = meanField(
    unary,
    Cp,
    [
      { filter: new WasmLatticeFilter(lg, wasm, shared), weight: params.gaussian.compat },
      { filter: new WasmLatticeFilter(lb, wasm, shared), weight: params.bilateral.compat },
    ],
    params.iterations,
    { q: wasm.f32(shared.inp, N * Cp), acc: wasm.f32(shared.out, N * Cp) },
  );
  const q = new Float32Array(N * C);
  if (Cp === C) {
    q.set(qp);
    return q;
  }
  for (let i = 0; i < N; i++) for (let k = 0; k < C; k++) q[i * C + k] = qp[i * Cp + k];
  return q;
}

/** Argmax labels of Q [N, C]. */
export function argmaxRows(q: Float32Array, C: number): Uint8Array {
  const N = q.length / C;
  const out = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0, bv = q[i * C];
    for (let k = 1; k < C; k++) {
      if (q[i * C + k] > bv) {
        bv = q[i * C + k];
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}

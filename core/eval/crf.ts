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
 * [N, 3]. The lattice itself is in permutohedral.ts.
 * @module
 */

import { latticeWasmModule, WasmArena } from "./crf_wasm.ts";
import { Permutohedral } from "./permutohedral.ts";

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

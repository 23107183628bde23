/**
 * Exact O(N²) dense-CRF mean-field: the reference the permutohedral CRF (crf.ts) is validated against
 * (hp-method.md §8.5). Same features, self-contribution (K_ii = 1), symmetric normalisation and Potts update
 * as crf.ts, but every kernel sum Σ_j exp(−½‖f_i − f_j‖²) q_j is computed directly in float64.
 * Only for small images (N ≤ ~2,000).
 * @module
 */
import {
  crfFeatures,
  type CrfParams,
  HP_CRF,
  meanField,
  type NormalizedFilter,
  unaryFromProbs,
} from "./crf.ts";

class ExactFilter implements NormalizedFilter {
  readonly k: Float64Array; // [N, N]
  readonly norm: Float64Array;
  constructor(features: Float32Array, readonly N: number, d: number) {
    this.k = new Float64Array(N * N);
    this.norm = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) {
          const t = features[i * d + c] - features[j * d + c];
          s += t * t;
        }
        this.k[i * N + j] = Math.exp(-0.5 * s);
      }
    }
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += this.k[i * N + j];
      this.norm[i] = 1 / Math.sqrt(s + 1e-20);
    }
  }
  addFiltered(acc: Float32Array, q: Float32Array, C: number, w: number): void {
    const { N, k, norm } = this;
    const row = new Float64Array(C);
    for (let i = 0; i < N; i++) {
      row.fill(0);
      for (let j = 0; j < N; j++) {
        const kij = k[i * N + j] * norm[j];
        for (let c = 0; c < C; c++) row[c] += kij * q[j * C + c];
      }
      for (let c = 0; c < C; c++) acc[i * C + c] += w * norm[i] * row[c];
    }
  }
}

/**
 * Exact dense CRF of one small image; same arguments and result as `denseCrf` in crf.ts.
 * @returns Q [H·W, C]
 */
export function denseCrfExact(
  probs: Float32Array,
  rgb: Uint8Array,
  H: number,
  W: number,
  C: number,
  params: CrfParams = HP_CRF,
): Float32Array {
  const N = H * W;
  if (N > 4096) throw new RangeError(`denseCrfExact: ${H}×${W} is too large for the O(N²) reference`);
  const f = crfFeatures(rgb, H, W, params);
  return meanField(unaryFromProbs(probs), C, [
    { filter: new ExactFilter(f.gaussian, N, 2), weight: params.gaussian.compat },
    { filter: new ExactFilter(f.bilateral, N, 5), weight: params.bilateral.compat },
  ], params.iterations);
}

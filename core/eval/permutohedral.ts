/**
 * Permutohedral lattice (Adams, Baek & Davis 2010) for the dense CRF's high-dimensional Gaussian filtering
 * (crf.ts, hp-method.md §8.5): the lattice is built once per kernel and image, and every filtering is
 * splat → blur along the d+1 lattice directions with weights (1/2, 1, 1/2) → slice, including each point's
 * own contribution, arranged as pydensecrf does it so results agree. crf_wasm.ts has SIMD versions of
 * `compute`'s loops.
 * @module
 */

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

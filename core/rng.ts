/**
 * Seeded random numbers with serialisable state (checkpoints store it so a resumed run continues the
 * same stream). xoshiro128** seeded through splitmix32.
 *
 * GPU kernels that need randomness (dropout masks, Bernoulli negatives) take a u32 seed drawn from here
 * and hash (seed, index) with {@link hash32}, so masks are reproducible and need no upload.
 * @module
 */

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A seeded generator; `state` can be saved and restored exactly. */
export class Rng {
  #s: Uint32Array;

  constructor(seed: number | readonly number[] = 0) {
    if (typeof seed === "number") {
      const sm = splitmix32(seed);
      this.#s = new Uint32Array([sm(), sm(), sm(), sm()]);
      if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
    } else {
      if (seed.length !== 4) throw new TypeError(`Rng state must have 4 words, got ${seed.length}`);
      this.#s = Uint32Array.from(seed);
    }
  }

  /** The four 32-bit state words (JSON-serialisable). */
  get state(): number[] {
    return Array.from(this.#s);
  }

  /** Next uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Stateless 32-bit hash of (seed, index) — lowbias32 finaliser. The same function is written in WGSL
 * (shaders use it for dropout and Bernoulli masks) so CPU references reproduce GPU masks exactly.
 */
export function hash32(seed: number, index: number): number {
  let x = (Math.imul(index >>> 0, 0x9e3779b9) ^ (seed >>> 0)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** hash32 mapped to a float in [0, 1) (top 24 bits, exactly representable in f32). */
export function hashUniform(seed: number, index: number): number {
  return (hash32(seed, index) >>> 8) / 16777216;
}

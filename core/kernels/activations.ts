/**
 * Float64 references of the activations the kernels apply: the exact (erf) GELU of the ViT MLP
 * (dino-backbone.md §2) in the GEMM epilogue (gemm.ts) and the elementwise ops (elementwise.ts), and its
 * derivative's erf.
 * @module
 */

/** erf with float64 accuracy (W. J. Cody's rational approximations would be overkill; series + cont. fraction). */
export function erf64(x: number): number {
  // Uses the relation to the regularised gamma function via a high-order series / continued fraction.
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax, sum = ax;
    for (let n = 1; n < 60; n++) {
      term *= -ax * ax / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // Continued fraction for erfc (Lentz), accurate for x ≥ 2.5.
    let f = ax, c = ax, d = 0;
    for (let n = 1; n < 200; n++) {
      const an = n / 2;
      d = ax + an * d;
      d = d === 0 ? 1e-300 : 1 / d;
      c = ax + an / c;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
  }
  return x < 0 ? -r : r;
}

/** Exact GELU, 0.5·x·(1+erf(x/√2)). */
export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

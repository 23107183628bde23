// Curve smoothing for the dashboard's charts (pure; tests import this module).

/**
 * Exponential moving average with TensorBoard's debiasing: s_i = (w·s'_{i-1} + (1−w)·y_i) / (1 − w^k), where
 * k counts the finite points so far, so the first points are not pulled towards zero. Weight 0 returns the
 * values unchanged; non-finite values are passed through and do not disturb the average.
 * @param {number[]} y values in order
 * @param {number} weight smoothing weight in [0, 1)
 * @returns {number[]}
 */
export function emaSmooth(y, weight) {
  const w = Math.min(Math.max(Number(weight) || 0, 0), 0.999);
  if (w === 0) return y.slice();
  const out = new Array(y.length);
  let last = 0, k = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * w + (1 - w) * v;
    k++;
    out[i] = last / (1 - Math.pow(w, k));
  }
  return out;
}

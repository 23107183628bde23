/**
 * Per-series downsampling for the dashboard's history (issue 14 §8): a long run has tens of thousands of
 * readbacks per series, far more than a chart is wide. {@link minMaxIndices} keeps, in each of `max / 2`
 * equal index buckets, the points with the smallest and the largest value (in their original order), plus the
 * first and last points, so spikes and the overall range survive while the count is bounded. Each series is
 * reduced on its own (a spike in one loss term keeps its own point even where another series is flat).
 * Zooming asks again for the visible range only, which then fits at full resolution.
 * @module
 */

/**
 * Indices (ascending) of at most `max` points of `y` that keep each bucket's minimum and maximum and the
 * first and last point. Non-finite values are never chosen. All indices when the finite count fits.
 */
export function minMaxIndices(y: ArrayLike<number>, max: number): number[] {
  const n = y.length;
  const finite: number[] = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(y[i])) finite.push(i);
  if (max <= 0 || finite.length <= Math.max(2, max)) return finite;
  const buckets = Math.floor((max - 2) / 2);
  const first = finite[0], last = finite[finite.length - 1];
  if (buckets < 1) return [first, last];
  const out = [first];
  const inner = finite.length - 2; // points strictly between first and last
  for (let b = 0; b < buckets; b++) {
    const lo = 1 + Math.floor((b * inner) / buckets), hi = 1 + Math.floor(((b + 1) * inner) / buckets);
    if (hi <= lo) continue;
    let iMin = finite[lo], iMax = finite[lo];
    for (let k = lo + 1; k < hi; k++) {
      const i = finite[k];
      if (y[i] < y[iMin]) iMin = i;
      if (y[i] > y[iMax]) iMax = i;
    }
    if (iMin === iMax) out.push(iMin);
    else out.push(Math.min(iMin, iMax), Math.max(iMin, iMax));
  }
  out.push(last);
  return out;
}

/** A series in columns: training step, wall-clock time (ms since the epoch) and value of each point. */
export interface Series {
  step: number[];
  time: number[];
  y: number[];
}

/**
 * The points of `s` with `from ≤ step ≤ to` (plus the nearest point outside on each side, so a zoomed line
 * runs to the chart's edges), reduced to at most `max` points by {@link minMaxIndices} (`max` ≤ 0: all).
 */
export function windowSeries(s: Series, max: number, from = -Infinity, to = Infinity): Series {
  let lo = 0, hi = s.step.length;
  if (from > -Infinity) {
    while (lo < hi && s.step[lo] < from) lo++;
    lo = Math.max(0, lo - 1);
  }
  if (to < Infinity) {
    let k = lo;
    while (k < hi && s.step[k] <= to) k++;
    hi = Math.min(s.step.length, k + 1);
  }
  const y = s.y.slice(lo, hi);
  const keep = minMaxIndices(y, max);
  return {
    step: keep.map((i) => s.step[lo + i]),
    time: keep.map((i) => s.time[lo + i]),
    y: keep.map((i) => y[i]),
  };
}

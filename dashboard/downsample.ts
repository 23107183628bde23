/**
 * Per-series downsampling for the dashboard's history (issue 14 §8): a long run has tens of thousands of
 * readbacks per series, far more than a chart is wide. {@link minMaxIndices} keeps, in each of `max / 2`
 * equal index buckets, the points with the smallest and the largest value (in their original order), plus the
 * first and last points, so spikes and the overall range survive while the count is bounded. Each series is
 * reduced on its own (a spike in one loss term keeps its own point even where another series is flat).
 * Zooming asks again for the visible range only, which then fits at full resolution.
 * @module
 */
import { minMaxIndices as pageMinMaxIndices } from "./static/run_data.js";

/**
 * Indices (ascending) of at most `max` points of `y` that keep each bucket's minimum and maximum and the
 * first and last point. Non-finite values are never chosen. All indices when the finite count fits. The rule
 * is written once, in the page's own module, so the server's snapshots and the page's live reduction agree.
 */
export function minMaxIndices(y: ArrayLike<number>, max: number): number[] {
  return pageMinMaxIndices(y, max);
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

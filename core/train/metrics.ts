/**
 * The trainer's metrics capture (graph.ts copies it every log_every steps), its layout and its decoding:
 * the 16 HP loss statistics, the regulariser and probe losses, the θ gradient norm, the mean LHP set size,
 * and the 10/50/90 % quantiles of the per-anchor thresholds R^ag and R^sp (hp-method.md §5.1) for the
 * dashboard.
 * @module
 */
import { HP_AUX_STRIDE, HP_STATS } from "../model/loss.ts";

/** Floats at the start of the metrics buffer (then the per-anchor aux [N, 12] for threshold quantiles). */
export const METRIC_HEAD = 32;
/** Slots of the metrics head (after the 16 HP stats of {@link HP_STATS}). */
export const METRIC = {
  reg: 16,
  clu: 17,
  lin: 18,
  linPixels: 19,
  gradNorm: 20,
  clipCoef: 21,
  /** Mean LHP set size |L_i| (hp-method.md §5.5), counted on the GPU by LhpCount. */
  lhpSize: 22,
} as const;

/** A metrics capture decoded on the CPU. */
export interface StepMetrics {
  ghp: number;
  lhp: number;
  hp: number;
  reg: number;
  clu: number;
  lin: number;
  posAg: number;
  posSp: number;
  /** Mean LHP set size |L_i| (hp-method.md §5.5). */
  posLhp: number;
  meanDenom: number;
  kept: number;
  lambda: number;
  gradNorm: number;
  thresholds: {
    ag: { p10: number; p50: number; p90: number };
    sp: { p10: number; p50: number; p90: number };
  };
}

function quantiles(v: Float32Array): { p10: number; p50: number; p90: number } {
  const s = Float32Array.from(v).sort();
  const q = (p: number) => {
    const x = p * (s.length - 1), i = Math.floor(x), f = x - i;
    return i + 1 < s.length ? s[i] * (1 - f) + s[i + 1] * f : s[i];
  };
  return { p10: q(0.1), p50: q(0.5), p90: q(0.9) };
}

/** Decodes a metrics capture (see {@link METRIC}, {@link HP_STATS}). */
export function decodeMetrics(data: ArrayBuffer, N: number): StepMetrics {
  const f = new Float32Array(data, 0, METRIC_HEAD + N * HP_AUX_STRIDE);
  const ag = new Float32Array(N), sp = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    ag[i] = f[METRIC_HEAD + i * HP_AUX_STRIDE];
    sp[i] = f[METRIC_HEAD + i * HP_AUX_STRIDE + 1];
  }
  return {
    ghp: f[HP_STATS.lossGhp],
    lhp: f[HP_STATS.lossLhp],
    hp: f[HP_STATS.lossHp],
    reg: f[METRIC.reg],
    clu: f[METRIC.clu],
    lin: f[METRIC.lin],
    posAg: f[HP_STATS.meanPosAg],
    posSp: f[HP_STATS.meanPosSp],
    posLhp: f[METRIC.lhpSize],
    meanDenom: f[HP_STATS.meanDenom],
    kept: f[HP_STATS.kept],
    lambda: f[HP_STATS.lambda],
    gradNorm: f[METRIC.gradNorm],
    thresholds: { ag: quantiles(ag), sp: quantiles(sp) },
  };
}

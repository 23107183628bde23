/**
 * Confusion matrix, pixel accuracy and mIoU exactly as hp-method.md §8.4 (STEGO's UnsupervisedMetrics).
 *
 * H[pred, gt] counts only pixels with 0 ≤ gt < n and 0 ≤ pred < n (ignore = −1, COCO 255 and any value
 * ≥ n on either side are left out). Cluster mode matches clusters to classes once for the whole dataset
 * (Hungarian, maximise); linear mode uses the identity. Per class k of the reordered matrix H':
 * IoU_k = TP / (row_k + col_k − TP); classes absent from both GT and prediction have IoU NaN and are
 * skipped by the mean; accuracy = Σ TP / Σ H. Results are in percent (0–100).
 * @module
 */
import { hungarian } from "./hungarian.ts";

/** Which mapping from predicted ids to classes: Hungarian matching or identity. */
export type ProbeMode = "cluster" | "linear";

/** A square n×n confusion matrix H[pred, gt] with float64 counts (exact up to 2^53 pixels). */
export class Confusion {
  readonly counts: Float64Array;
  /** Pixels skipped because the prediction was out of range (≥ n or < 0) while the GT was valid. */
  invalidPred = 0;
  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Confusion: class count must be ≥ 1, got ${n}`);
    this.counts = new Float64Array(n * n);
  }

  /**
   * Adds pixels. `pred` and `gt` are same-length label arrays (any integer typed array); pixels with
   * gt outside [0, n) or pred outside [0, n) are not counted.
   */
  add(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
    if (pred.length !== gt.length) {
      throw new TypeError(`Confusion.add: ${pred.length} predictions for ${gt.length} labels`);
    }
    const n = this.n, c = this.counts;
    for (let i = 0; i < gt.length; i++) {
      const g = gt[i];
      if (g < 0 || g >= n) continue;
      const p = pred[i];
      if (p < 0 || p >= n) {
        this.invalidPred++;
        continue;
      }
      c[p * n + g]++;
    }
  }

  /** Adds another matrix (e.g. a GPU-accumulated u32 histogram, row-major [pred, gt]). */
  addCounts(counts: ArrayLike<number>): void {
    if (counts.length !== this.counts.length) {
      throw new TypeError(`Confusion.addCounts: ${counts.length} values for a ${this.n}×${this.n} matrix`);
    }
    for (let i = 0; i < counts.length; i++) this.counts[i] += counts[i];
  }

  /** Total counted pixels. */
  get total(): number {
    let s = 0;
    for (const v of this.counts) s += v;
    return s;
  }
}

/** Scores of one probe. */
export interface Scores {
  /** Pixel accuracy in percent. */
  acc: number;
  /** Mean IoU over classes whose IoU is defined, in percent. */
  miou: number;
  /** Per-class IoU in percent; NaN for classes absent from both GT and (matched) prediction. */
  iou: number[];
  /** `classToPred[k]` = predicted id mapped to class k (identity for linear). */
  classToPred: number[];
}

/**
 * Scores a confusion matrix (hp-method.md §8.4).
 * @param h counts H[pred, gt], n×n row-major
 * @param n number of classes (= number of clusters)
 * @param mode "cluster": Hungarian matching (maximise), "linear": identity
 * @returns accuracy, mIoU and per-class IoU in percent, plus the mapping used
 */
export function scoreConfusion(h: ArrayLike<number>, n: number, mode: ProbeMode): Scores {
  if (h.length !== n * n) throw new TypeError(`scoreConfusion: ${h.length} values for ${n}×${n}`);
  let classToPred: number[];
  if (mode === "cluster") {
    const predToClass = hungarian(h, n, n, true);
    classToPred = new Array(n).fill(-1);
    for (let p = 0; p < n; p++) classToPred[predToClass[p]] = p;
  } else {
    classToPred = Array.from({ length: n }, (_, k) => k);
  }
  // H'[k, g] = H[classToPred[k], g].
  const rowSum = new Float64Array(n), colSum = new Float64Array(n), tp = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const r = classToPred[k];
    for (let g = 0; g < n; g++) {
      const v = h[r * n + g];
      rowSum[k] += v;
      colSum[g] += v;
      total += v;
    }
    tp[k] = h[r * n + k];
  }
  const iou: number[] = [];
  let sumTp = 0, sumIou = 0, defined = 0;
  for (let k = 0; k < n; k++) {
    sumTp += tp[k];
    const denom = rowSum[k] + colSum[k] - tp[k];
    const v = denom > 0 ? tp[k] / denom : NaN;
    iou.push(100 * v);
    if (!Number.isNaN(v)) {
      sumIou += v;
      defined++;
    }
  }
  return {
    acc: total > 0 ? 100 * sumTp / total : NaN,
    miou: defined > 0 ? 100 * sumIou / defined : NaN,
    iou,
    classToPred,
  };
}

/** JSON-friendly scores: NaN becomes null. */
export function scoresToJson(s: Scores): { acc: number | null; miou: number | null; iou: (number | null)[] } {
  const f = (v: number) => Number.isNaN(v) ? null : v;
  return { acc: f(s.acc), miou: f(s.miou), iou: s.iou.map(f) };
}

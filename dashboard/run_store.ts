/**
 * One run's history as the page needs it (issue 14 §3, §8): every numeric field of the metrics messages as
 * its own series (columns of step, time and value), the evaluations, the picture list, the status messages
 * and the latest progress, folded from the run log incrementally (dashboard/log_tail.ts) — a long log is
 * parsed once, then only its new lines. A page gets a {@link RunStore.snapshot} with every series
 * downsampled on its own (dashboard/downsample.ts) and asks {@link RunStore.series} for the range it zooms
 * into at full resolution. A resumed run's re-done steps replace the interrupted attempt's
 * (core/telemetry.ts compactHistory).
 * @module
 */
import {
  type EvalMessage,
  isTelemetryMessage,
  type MetricsMessage,
  type PictureMessage,
  type ProgressMessage,
  RUN_LOG_FILE,
  type StatusMessage,
  type TelemetryMessage,
} from "../core/telemetry.ts";
import { minMaxIndices, type Series, windowSeries } from "./downsample.ts";
import { LogTail } from "./log_tail.ts";

/** Points per series in a snapshot (a chart is a few hundred pixels wide; zooming asks for more). */
export const SNAPSHOT_POINTS = 500;
/** Most points per series one `/api/series` answer holds. */
export const MAX_POINTS = 20_000;

/** A series on the wire: steps, times in ms since the snapshot's `t0`, values (6 significant digits). */
export interface WireSeries {
  step: number[];
  t: number[];
  y: number[];
}

/** What a page loads for a run: everything but the metrics, which come as downsampled series. */
export interface Snapshot {
  runId: string;
  /** Time origin of the series' `t` (the run's first message), ms since the epoch. */
  t0: number;
  config?: Record<string, unknown>;
  statuses: StatusMessage[];
  evals: EvalMessage[];
  pictures: PictureMessage[];
  progress?: ProgressMessage;
  lastMetrics?: MetricsMessage;
  series: Record<string, WireSeries>;
  /** Points each series has at full resolution. */
  counts: Record<string, number>;
}

/**
 * The series keys of a metrics message: its numeric fields by dotted path (`losses.ghp`,
 * `thresholds.ag.p50`, `gpuPassMs.<pass>`), plus `losses.head` = total − probe losses (the loss that trains
 * the segmentation head: L_HP + α·L_reg, hp-method.md §5.7). Step counters and the ETA are not series.
 */
export function metricsValues(m: MetricsMessage): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (v: unknown, path: string) => {
    if (typeof v === "number") out.set(path, v);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    }
  };
  const { type: _t, step: _s, epoch: _e, totalSteps: _n, etaSeconds: _eta, time: _time, ...rest } = m;
  walk(rest, "");
  const l = m.losses;
  if (l && [l.total, l.lin, l.clu].every(Number.isFinite)) out.set("losses.head", l.total - l.lin - l.clu);
  return out;
}

const round = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : v);

/** Index of the first element of the ascending array `a` greater than `x`. */
function upperBound(a: number[], x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The history of one run; see the module comment. */
export class RunStore {
  readonly tail: LogTail;
  #step: number[] = [];
  #time: number[] = [];
  /** Values per key, aligned with #step (NaN where a message lacked the key). */
  #values = new Map<string, number[]>();
  #evals: EvalMessage[] = [];
  #pictures: PictureMessage[] = [];
  #statuses: StatusMessage[] = [];
  #config: Record<string, unknown> | undefined;
  #progress: ProgressMessage | undefined;
  #lastMetrics: MetricsMessage | undefined;
  #t0: number | undefined;
  /** Messages folded. */
  messages = 0;

  constructor(readonly runDir: string) {
    this.tail = new LogTail(`${runDir.replace(/\/+$/, "")}/${RUN_LOG_FILE}`);
  }

  /** Folds the lines appended to the log since the last refresh (synchronously). */
  refreshSync(): void {
    this.#fold(this.tail.readSync());
  }

  /** Folds the lines appended since the last refresh. */
  async refresh(): Promise<void> {
    this.#fold(await this.tail.read());
  }

  #fold(r: { lines: string[]; restarted: boolean }): void {
    if (r.restarted) this.#clear();
    for (const line of r.lines) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        continue; // a torn line
      }
      if (isTelemetryMessage(v)) this.add(v);
    }
  }

  #clear(): void {
    this.#step = [];
    this.#time = [];
    this.#values.clear();
    this.#evals = [];
    this.#pictures = [];
    this.#statuses = [];
    this.#config =
      this.#progress =
      this.#lastMetrics =
      this.#t0 =
        undefined;
    this.messages = 0;
  }

  /** Folds one message. */
  add(m: TelemetryMessage): void {
    this.messages++;
    if (typeof m.time === "number") this.#t0 ??= m.time;
    switch (m.type) {
      case "status":
        if (typeof m.resumedFrom === "number") this.#dropAfter(m.resumedFrom);
        if (m.config && (m.state === "starting" || !this.#config)) this.#config = m.config;
        {
          const { config: _c, ...rest } = m;
          this.#statuses.push(rest);
        }
        break;
      case "metrics": {
        const n = this.#step.length;
        this.#step.push(m.step);
        this.#time.push(m.time ?? NaN);
        for (const [k, v] of metricsValues(m)) {
          let col = this.#values.get(k);
          if (!col) {
            col = new Array(n).fill(NaN);
            this.#values.set(k, col);
          }
          col.push(v);
        }
        for (const col of this.#values.values()) if (col.length === n) col.push(NaN);
        this.#lastMetrics = m;
        break;
      }
      case "eval":
        this.#evals.push(m);
        break;
      case "picture":
        this.#pictures.push(m);
        break;
      case "progress":
        this.#progress = m;
        break;
    }
  }

  /** A resumed run re-does the steps after `step`: what was logged for them before is dropped. */
  #dropAfter(step: number): void {
    const keep = upperBound(this.#step, step);
    if (keep < this.#step.length) {
      this.#step.length = keep;
      this.#time.length = keep;
      for (const col of this.#values.values()) col.length = keep;
    }
    if (this.#lastMetrics && this.#lastMetrics.step > step) this.#lastMetrics = undefined;
    this.#evals = this.#evals.filter((e) => e.step <= step);
    this.#pictures = this.#pictures.filter((p) => p.step <= step);
  }

  /** Series keys: metrics fields, then `eval.<score>` for the evaluations. */
  keys(): string[] {
    const out = [...this.#values.keys()];
    const evalKeys = new Set<string>();
    for (const e of this.#evals) for (const k of Object.keys(e.metrics)) evalKeys.add(`eval.${k}`);
    return [...out, ...evalKeys];
  }

  /** One series at full resolution (a copy). */
  full(key: string): Series {
    if (key.startsWith("eval.")) {
      const k = key.slice(5) as keyof EvalMessage["metrics"];
      const es = this.#evals.filter((e) => typeof e.metrics[k] === "number");
      return {
        step: es.map((e) => e.step),
        time: es.map((e) => e.time ?? NaN),
        y: es.map((e) => e.metrics[k]),
      };
    }
    const col = this.#values.get(key);
    if (!col) return { step: [], time: [], y: [] };
    const step: number[] = [], time: number[] = [], y: number[] = [];
    for (let i = 0; i < col.length; i++) {
      if (!Number.isFinite(col[i])) continue;
      step.push(this.#step[i]);
      time.push(this.#time[i]);
      y.push(col[i]);
    }
    return { step, time, y };
  }

  #wire(s: Series): WireSeries {
    const t0 = this.#t0 ?? 0;
    return {
      step: s.step,
      t: s.time.map((t) => (Number.isFinite(t) ? Math.round(t - t0) : 0)),
      y: s.y.map(round),
    };
  }

  /** The series `keys` (all when omitted) between steps `from` and `to`, at most `points` each. */
  series(
    keys: string[] | undefined,
    points: number,
    from = -Infinity,
    to = Infinity,
  ): Record<string, WireSeries> {
    const out: Record<string, WireSeries> = {};
    for (const k of keys ?? this.keys()) {
      const col = this.#values.get(k);
      out[k] = col
        ? this.#wire(this.#window(col, points, from, to))
        : this.#wire(windowSeries(this.full(k), points, from, to));
    }
    return out;
  }

  /**
   * {@link windowSeries} straight on a metrics column (missing values are NaN there and never chosen), without
   * first copying the whole series: a snapshot of a long run stays cheap.
   */
  #window(col: number[], points: number, from: number, to: number): Series {
    let lo = 0, hi = col.length;
    if (from > -Infinity) lo = Math.max(0, upperBound(this.#step, from - 1e-9) - 1);
    if (to < Infinity) hi = Math.min(col.length, upperBound(this.#step, to) + 1);
    const keep = minMaxIndices(col.slice(lo, hi), points);
    return {
      step: keep.map((i) => this.#step[lo + i]),
      time: keep.map((i) => this.#time[lo + i]),
      y: keep.map((i) => col[lo + i]),
    };
  }

  /** Points per series at full resolution. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, col] of this.#values) {
      let n = 0;
      for (const v of col) if (Number.isFinite(v)) n++;
      out[k] = n;
    }
    for (const k of this.keys()) if (!(k in out)) out[k] = this.full(k).step.length;
    return out;
  }

  /** Everything a page needs to draw the run, each series reduced to at most `points`. */
  snapshot(runId: string, points = SNAPSHOT_POINTS): Snapshot {
    const counts = this.counts();
    return {
      runId,
      t0: this.#t0 ?? 0,
      config: this.#config,
      statuses: this.#statuses,
      evals: this.#evals,
      pictures: this.#pictures,
      progress: this.#progress,
      lastMetrics: this.#lastMetrics,
      series: this.series(undefined, points),
      counts,
    };
  }
}

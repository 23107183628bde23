// One run's record on the page (issue 14): its series (step, time since the run's start, value), evaluations,
// pictures, statuses, configuration, facts and ETA, filled from a snapshot (`/api/snapshot` or the stream's
// `snapshot` event, series already downsampled by the server) and then from live telemetry messages.
import { metricsValues } from "./chart_specs.js";

const FINAL = new Set(["done", "stopped", "failed"]);

export function newRun(id) {
  return {
    id,
    t0: 0,
    config: null,
    facts: null,
    statuses: [],
    evals: [],
    pictures: [],
    progress: null,
    lastMetrics: null,
    series: new Map(),
    counts: {},
    zoom: new Map(),
    totalSteps: 0,
    kmeans: NaN,
    final: null,
    state: "waiting",
    message: "",
    started: undefined,
    ended: undefined,
    eta: null,
    summary: null,
  };
}

/** Live points a series may hold before it is reduced again (the server's snapshots hold 500). */
const LIVE_MAX = 2000;

function pushPoint(d, key, step, time, y) {
  let s = d.series.get(key);
  if (!s) d.series.set(key, s = { step: [], t: [], y: [] });
  s.step.push(step);
  s.t.push(Number.isFinite(time) ? time - d.t0 : 0);
  s.y.push(y);
  d.counts[key] = (d.counts[key] ?? 0) + 1;
  if (s.step.length > LIVE_MAX) {
    const keep = minMaxIndices(s.y, LIVE_MAX / 2);
    s.step = keep.map((i) => s.step[i]);
    s.t = keep.map((i) => s.t[i]);
    s.y = keep.map((i) => s.y[i]);
  }
}

/**
 * Per-series downsampling, used by the page (live series) and by the server (dashboard/downsample.ts, its
 * snapshots): each bucket's minimum and maximum, plus the first and last point, at most `max` indices.
 */
export function minMaxIndices(y, max) {
  const finite = [];
  for (let i = 0; i < y.length; i++) if (Number.isFinite(y[i])) finite.push(i);
  if (max <= 0 || finite.length <= Math.max(2, max)) return finite;
  const buckets = Math.floor((max - 2) / 2);
  const first = finite[0], last = finite[finite.length - 1];
  if (buckets < 1) return [first, last];
  const out = [first], inner = finite.length - 2;
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

/** Folds one telemetry message into a run record. */
export function apply(d, m) {
  if (typeof m.time === "number") {
    if (!d.t0) d.t0 = m.time;
    d.started ??= m.time;
  }
  switch (m.type) {
    case "status":
      if (typeof m.resumedFrom === "number") dropAfter(d, m.resumedFrom);
      d.statuses.push(m);
      d.state = m.state;
      d.message = m.message ?? "";
      if (m.config) d.config = m.config;
      if (m.facts) d.facts = { ...d.facts, ...m.facts };
      if (m.final) {
        d.final = m.final;
        d.kmeans = m.final.kmeans_miou ?? NaN;
      }
      d.ended = FINAL.has(m.state) ? m.time : undefined;
      break;
    case "metrics":
      for (const [k, v] of metricsValues(m)) pushPoint(d, k, m.step, m.time, v);
      d.lastMetrics = m;
      d.totalSteps = m.totalSteps;
      if (typeof m.etaSeconds === "number") d.eta = { seconds: m.etaSeconds, at: Date.now() };
      break;
    case "eval":
      d.evals.push(m);
      for (const [k, v] of Object.entries(m.metrics)) {
        if (typeof v === "number") pushPoint(d, `eval.${k}`, m.step, m.time, v);
      }
      break;
    case "picture":
      d.pictures.push(m);
      break;
    case "progress":
      d.progress = m;
      d.totalSteps = m.totalSteps || d.totalSteps;
      if (typeof m.etaSeconds === "number") d.eta = { seconds: m.etaSeconds, at: Date.now() };
      break;
  }
}

/** A resumed run re-does the steps after its checkpoint: what the interrupted attempt logged for them goes. */
function dropAfter(d, step) {
  for (const s of d.series.values()) {
    let n = s.step.length;
    while (n > 0 && s.step[n - 1] > step) n--;
    s.step.length = s.t.length = s.y.length = n;
  }
  d.evals = d.evals.filter((e) => e.step <= step);
  d.pictures = d.pictures.filter((p) => p.step <= step);
}

/** A run record from a snapshot (server-side downsampled series). */
export function fromSnapshot(snap) {
  const d = newRun(snap.runId);
  d.t0 = snap.t0;
  d.config = snap.config ?? null;
  d.evals = snap.evals ?? [];
  d.pictures = snap.pictures ?? [];
  d.progress = snap.progress ?? null;
  d.lastMetrics = snap.lastMetrics ?? null;
  d.counts = { ...snap.counts };
  d.summary = snap.summary ?? null;
  for (const [k, s] of Object.entries(snap.series ?? {})) d.series.set(k, { step: s.step, t: s.t, y: s.y });
  for (const st of snap.statuses ?? []) {
    d.statuses.push(st);
    d.state = st.state;
    d.message = st.message ?? "";
    if (st.facts) d.facts = { ...d.facts, ...st.facts };
    if (st.final) {
      d.final = st.final;
      d.kmeans = st.final.kmeans_miou ?? NaN;
    }
    d.ended = FINAL.has(st.state) ? st.time : undefined;
  }
  d.started = snap.summary?.started ?? (snap.t0 || undefined);
  d.totalSteps = d.lastMetrics?.totalSteps ?? d.progress?.totalSteps ?? snap.summary?.totalSteps ?? 0;
  if (snap.summary?.state === "interrupted") d.state = "interrupted";
  if (d.lastMetrics && typeof d.lastMetrics.etaSeconds === "number") {
    d.eta = { seconds: d.lastMetrics.etaSeconds, at: Date.now() };
  }
  return d;
}

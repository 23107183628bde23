/**
 * Per-run summaries for the runs browser (issue 14 §2, §8): what `/api/runs` lists — state, steps, start and
 * end, adapter, configuration, final or latest scores — folded from a run's log message by message, so a
 * summary is kept up to date by reading only the lines appended since ({@link foldLines}, dashboard/
 * log_tail.ts). Metrics lines, by far the most numerous, only move the step counter: a run of them is
 * parsed from its last line backwards until one parses, the rest are counted unparsed.
 *
 * A summary can be saved as `<runDir>/summary.json` together with the log offset it covers; a server that
 * starts later reads it and folds only the rest of the log.
 * @module
 */
import type { FinalScores, RunFacts, RunState, TelemetryMessage } from "../core/telemetry.ts";
import { isTelemetryMessage } from "../core/telemetry.ts";

/** File name of a saved summary inside a run folder. */
export const SUMMARY_FILE = "summary.json";
/** Format version of {@link SUMMARY_FILE}; a file of another version is ignored. */
export const SUMMARY_VERSION = 1;

/** States a listed run can be in: the logged ones, and "interrupted" for a non-final run whose trainer is gone. */
export type ListedState = RunState | "interrupted" | "unknown";

/** One run of `/api/runs`. */
export interface RunSummary {
  id: string;
  /** Set by the index: the run this server trains right now. */
  current: boolean;
  /** Set by the index: this server is training it and it has not ended. */
  live: boolean;
  state: ListedState;
  /** The last status message's sentence (why it failed, what it scored). */
  message?: string;
  /** Time (ms since the epoch) of the first logged message and of the latest one. */
  started?: number;
  lastTime?: number;
  /** Time of the final status (done, stopped, failed). */
  ended?: number;
  step?: number;
  totalSteps?: number;
  facts?: RunFacts;
  /** The resolved configuration (the first "starting" status that carried one). */
  config?: Record<string, unknown>;
  /** With state "done": the final scores (percent; null = not computed). */
  final?: Record<keyof FinalScores, number | null>;
  /** The latest evaluation. */
  lastEval?: { step: number; metrics: Record<string, number | null> };
  /** Name and notes the user gave the run (`<runDir>/meta.json`). */
  name?: string;
  notes?: string;
  /** Messages logged (a torn metrics line between good ones may be counted). */
  messages: number;
  /** Log modification time (ms), null when unknown. */
  modified: number | null;
}

/** A fresh summary of run `id` before any message. */
export function emptySummary(id: string): RunSummary {
  return { id, current: false, live: false, state: "unknown", messages: 0, modified: null };
}

const FINAL = new Set(["done", "stopped", "failed"]);

/** True for the states a run never leaves on its own. */
export function isFinalState(state: string | undefined): boolean {
  return state !== undefined && FINAL.has(state);
}

function nullable(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** Folds one message into the summary (in place). */
export function foldMessage(s: RunSummary, m: TelemetryMessage): void {
  s.messages++;
  const t = typeof m.time === "number" ? m.time : undefined;
  if (t !== undefined) {
    s.started ??= t;
    s.lastTime = t;
  }
  switch (m.type) {
    case "status":
      s.state = m.state;
      if (m.message !== undefined) s.message = m.message;
      else if (m.state === "starting" || m.state === "evaluating") delete s.message;
      if (m.config && (m.state === "starting" || !s.config)) s.config = m.config;
      if (m.facts) s.facts = { ...s.facts, ...m.facts };
      if (typeof m.resumedFrom === "number") {
        s.step = m.resumedFrom;
        if (s.lastEval && s.lastEval.step > m.resumedFrom) delete s.lastEval;
      }
      if (isFinalState(m.state)) s.ended = t;
      else delete s.ended;
      if (m.state === "done" && m.final) {
        const f = m.final;
        s.final = {
          cluster_acc: nullable(f.cluster_acc),
          cluster_miou: nullable(f.cluster_miou),
          linear_acc: nullable(f.linear_acc),
          linear_miou: nullable(f.linear_miou),
          kmeans_miou: nullable(f.kmeans_miou),
        };
      } else if (m.state === "starting") delete s.final;
      break;
    case "metrics":
      s.step = m.step;
      s.totalSteps = m.totalSteps;
      break;
    case "progress":
      s.totalSteps = m.totalSteps;
      if (m.step > (s.step ?? -1)) s.step = m.step;
      break;
    case "eval": {
      const metrics: Record<string, number | null> = {};
      for (const [k, v] of Object.entries(m.metrics)) metrics[k] = nullable(v);
      s.lastEval = { step: m.step, metrics };
      break;
    }
  }
}

const METRICS_PREFIX = '{"type":"metrics"';

function parse(line: string): TelemetryMessage | undefined {
  try {
    const v = JSON.parse(line);
    return isTelemetryMessage(v) ? v : undefined;
  } catch {
    return undefined; // a torn line
  }
}

/**
 * Folds log lines into the summary (in place). Consecutive metrics lines are counted, and only the last one
 * that parses is folded (a metrics message changes nothing but the step counters and the time).
 */
export function foldLines(s: RunSummary, lines: string[]): void {
  let runStart = -1;
  const flushMetrics = (end: number) => {
    if (runStart < 0) return;
    const count = end - runStart;
    if (s.started === undefined) {
      const first = parse(lines[runStart]);
      if (typeof first?.time === "number") s.started = first.time;
    }
    for (let k = end - 1; k >= runStart; k--) {
      const m = parse(lines[k]);
      if (m) {
        foldMessage(s, m);
        s.messages += count - 1;
        break;
      }
    }
    runStart = -1;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith(METRICS_PREFIX)) {
      if (runStart < 0) runStart = i;
      continue;
    }
    flushMetrics(i);
    const m = parse(line);
    if (m) foldMessage(s, m);
  }
  flushMetrics(lines.length);
}

const METRICS_BYTES = new TextEncoder().encode(METRICS_PREFIX);
const decoder = new TextDecoder();

function startsWithMetrics(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < METRICS_BYTES.length) return false;
  for (let k = 0; k < METRICS_BYTES.length; k++) if (b[start + k] !== METRICS_BYTES[k]) return false;
  return true;
}

/**
 * {@link foldLines} on raw log bytes (complete lines): metrics lines are recognised by their first bytes
 * and never decoded, except the last ones of each run of them — a long log's summary costs little more
 * than reading it.
 */
export function foldBytes(s: RunSummary, b: Uint8Array): void {
  let runCount = 0, runFirst: [number, number] | null = null;
  const recent: Array<[number, number]> = []; // the last few metrics lines of the current run
  const decodeAt = ([a, z]: [number, number]) => parse(decoder.decode(b.subarray(a, z)));
  const flush = () => {
    if (runCount === 0) return;
    if (s.started === undefined && runFirst) {
      const first = decodeAt(runFirst);
      if (typeof first?.time === "number") s.started = first.time;
    }
    for (let k = recent.length - 1; k >= 0; k--) {
      const m = decodeAt(recent[k]);
      if (m) {
        foldMessage(s, m);
        s.messages += runCount - 1;
        break;
      }
    }
    runCount = 0;
    runFirst = null;
    recent.length = 0;
  };
  let start = 0;
  while (start < b.length) {
    let end = b.indexOf(0x0a, start);
    if (end < 0) end = b.length;
    if (end > start) {
      if (startsWithMetrics(b, start, end)) {
        runCount++;
        runFirst ??= [start, end];
        recent.push([start, end]);
        if (recent.length > 4) recent.shift();
      } else {
        flush();
        const m = decodeAt([start, end]);
        if (m) foldMessage(s, m);
      }
    }
    start = end + 1;
  }
  flush();
}

/** What {@link SUMMARY_FILE} holds. */
export interface SavedSummary {
  version: number;
  /** Log bytes the summary covers. */
  logBytes: number;
  summary: RunSummary;
}

/** Reads a saved summary; undefined when absent, unreadable or of another version. */
export function readSavedSummary(text: string): SavedSummary | undefined {
  try {
    const v = JSON.parse(text);
    if (
      v && v.version === SUMMARY_VERSION && Number.isInteger(v.logBytes) && v.logBytes >= 0 &&
      v.summary && typeof v.summary === "object" && typeof v.summary.id === "string"
    ) {
      return v as SavedSummary;
    }
  } catch { /* unreadable: rebuilt from the log */ }
  return undefined;
}

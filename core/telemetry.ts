/**
 * Telemetry messages shared by the trainer Worker, the dashboard server and the dashboard page, plus the
 * run log that stores them.
 *
 * Data flow (style.md §2.3): the trainer Worker reads metrics back every N steps and posts one
 * `TelemetryMessage`; on the main thread the dashboard (`dashboard/server.ts`) appends it to
 * `<runDir>/metrics.jsonl` through {@link RunLog} and forwards it as one Server-Sent Event. A page opened
 * late (or refreshed) reads the whole log through `/api/history`, so nothing is lost.
 *
 * The log is append-only JSONL: one JSON object per line. A crash can leave a torn last line; the reader
 * skips it (and any other line that does not parse as a telemetry message).
 * @module
 */
import { writeError } from "./io/atomic.ts";

/** Lifecycle of a run; "stopped" = interrupted (Ctrl-C, SIGTERM, SIGHUP) after saving a checkpoint. */
export type RunState = "starting" | "running" | "evaluating" | "done" | "stopped" | "failed";

/** Final scores of a finished run in percent (hp-method.md §8.4); NaN (null in JSON) when not computed. */
export interface FinalScores {
  cluster_acc: number;
  cluster_miou: number;
  linear_acc: number;
  linear_miou: number;
  /** The baseline: k-means on the raw backbone features. */
  kmeans_miou: number;
}

/** Run status change. `config` is the resolved run configuration (shown on the page as JSON). */
export interface StatusMessage {
  type: "status";
  state: RunState;
  runId: string;
  /** A sentence for people (terminal and page), e.g. why a run failed or what it scored. */
  message?: string;
  config?: Record<string, unknown>;
  /** With state "done" after a complete run: the final scores (the same numbers as `message`). */
  final?: FinalScores;
  /**
   * With state "starting" of a resumed run: the step of the checkpoint it continues from. Messages logged
   * earlier for later steps belong to the interrupted attempt and are superseded ({@link compactHistory}).
   */
  resumedFrom?: number;
  /** With state "starting": facts about the run shown on the dashboard (adapter, command, version). */
  facts?: RunFacts;
  /** Wall-clock milliseconds since the epoch; filled in by {@link stamp} when absent. */
  time?: number;
}

/** Facts about a run for the dashboard's facts panel (issue 14 §6); every field is optional. */
export interface RunFacts {
  /** WebGPU adapter description, e.g. "llvmpipe (LLVM 19.1.7, 256 bits)". */
  adapter?: string;
  /** True for a software (CPU) adapter or a fallback adapter. */
  software?: boolean;
  /** The command line as typed (e.g. "hpseg train --set train.batch=16"). */
  command?: string;
  /** hpseg's version and the Deno version. */
  version?: string;
  deno?: string;
  /** Backbone variant, e.g. "DINO ViT-S/8". */
  backbone?: string;
}

/** Loss terms of one readback (hp-method.md §5.6–§5.7). `lin`/`clu` are the probe losses. */
export interface LossTerms {
  ghp: number;
  lhp: number;
  reg: number;
  lin: number;
  clu: number;
  total: number;
}

/** Percentiles of the anchor-dependent thresholds (hp-method.md §5.1). */
export interface Percentiles {
  p10: number;
  p50: number;
  p90: number;
}

/** One metrics readback from the trainer (every N steps). */
export interface MetricsMessage {
  type: "metrics";
  step: number;
  epoch: number;
  totalSteps: number;
  losses: LossTerms;
  /** λ_t, weight of task-specific positives (hp-method.md §5.8). */
  lambda: number;
  lr: number;
  /**
   * Mean number of positives per anchor: task-agnostic |P_i^ag|, task-specific |P_i^sp| (hp-method.md §5.2)
   * and LHP |L_i| (§5.5: window members whose weight survives the row-mean threshold, i itself included).
   */
  positives: { ag: number; sp: number; lhp: number };
  /** Threshold distributions of the task-agnostic and task-specific pools. */
  thresholds: { ag: Percentiles; sp: Percentiles };
  imagesPerSec: number;
  stepMs: number;
  /** GPU time per pass in ms, when timestamp queries exist. */
  gpuPassMs?: Record<string, number>;
  /** The run's remaining wall time in seconds (the trainer's one estimate, core/progress.ts RunEta). */
  etaSeconds?: number | null;
  time?: number;
}

/** Evaluation result at a step. */
export interface EvalMessage {
  type: "eval";
  step: number;
  metrics: { cluster_acc: number; cluster_miou: number; linear_acc: number; linear_miou: number };
  /** Per-class scores and confusion matrices of this evaluation (the dashboard's IoU bars and matrix). */
  detail?: EvalDetail;
  time?: number;
}

/** One probe's per-class result (hp-method.md §8.4) in an {@link EvalDetail}. */
export interface ProbeDetail {
  /** IoU per class in percent; null where the class is absent from both ground truth and prediction. */
  iou: (number | null)[];
  /**
   * Pixel counts n×n, row-major [predicted class, ground-truth class], after the probe's mapping (the
   * cluster probe's Hungarian matching), so the diagonal holds the correct pixels.
   */
  confusion: number[];
}

/** Per-class detail of an evaluation. */
export interface EvalDetail {
  classNames: string[];
  cluster: ProbeDetail;
  linear: ProbeDetail;
}

/** Kinds of pictures the trainer writes (core/viz). */
export type PictureKind = "ghp" | "lhp" | "pred";

/** A picture (PNG) was written; `file` is relative to the run directory, e.g. `pictures/ghp_000100.png`. */
export interface PictureMessage {
  type: "picture";
  step: number;
  kind: PictureKind;
  file: string;
  caption?: string;
  time?: number;
}

/**
 * Where a run is: its phase (setup, pool, train, validate, baseline, final), units done in that phase and
 * the run's remaining time — the trainer's progress stream as `train` publishes it, at phase changes and
 * at most every few seconds.
 */
export interface ProgressMessage {
  type: "progress";
  phase: string;
  step: number;
  totalSteps: number;
  done: number;
  total: number;
  etaSeconds: number | null;
  time?: number;
}

/** Everything the trainer posts and the dashboard shows. */
export type TelemetryMessage =
  | StatusMessage
  | MetricsMessage
  | EvalMessage
  | PictureMessage
  | ProgressMessage;

const TYPES = new Set(["status", "metrics", "eval", "picture", "progress"]);

/** True when `v` looks like a telemetry message (an object with a known `type`). */
export function isTelemetryMessage(v: unknown): v is TelemetryMessage {
  return typeof v === "object" && v !== null && TYPES.has((v as { type?: unknown }).type as string);
}

/** Returns `msg` with `time` set to now when it has none (the log records when each message arrived). */
export function stamp<T extends TelemetryMessage>(msg: T): T {
  return msg.time === undefined ? { ...msg, time: Date.now() } : msg;
}

/** File name of the run log inside a run directory. */
export const RUN_LOG_FILE = "metrics.jsonl";

/**
 * Parses JSONL text into telemetry messages. Lines that do not parse or are not telemetry messages
 * (a torn last line after a crash, a blank line) are skipped.
 */
export function parseRunLog(text: string): TelemetryMessage[] {
  const out: TelemetryMessage[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const v = JSON.parse(line);
      if (isTelemetryMessage(v)) out.push(v);
    } catch {
      // A torn line (crash mid-append): skip it, keep the rest.
    }
  }
  return out;
}

/**
 * The history as the run really went: a resumed run re-does the steps after its checkpoint, so at each
 * status message with `resumedFrom` = s, the metrics, evaluations and pictures logged before it for steps
 * after s are dropped (issue 11 finding 13: the history repeated steps after a resume).
 */
export function compactHistory(messages: TelemetryMessage[]): TelemetryMessage[] {
  let out: TelemetryMessage[] = [];
  for (const m of messages) {
    if (m.type === "status" && typeof m.resumedFrom === "number") {
      const from = m.resumedFrom;
      out = out.filter((x) => x.type === "status" || x.step <= from);
    }
    out.push(m);
  }
  return out;
}

/**
 * Append-only JSONL log of one run (`<runDir>/metrics.jsonl`).
 *
 * Appends are synchronous, one `write` per message opened with `append: true`, so a message is either
 * fully in the file or (after a crash mid-write) a torn last line that {@link parseRunLog} skips. If the
 * existing file ends in a torn line, the first append starts on a new line so the torn text cannot glue
 * onto a good message.
 */
export class RunLog {
  /** Full path of the JSONL file. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #enc = new TextEncoder();

  constructor(readonly runDir: string) {
    this.path = `${runDir.replace(/\/+$/, "")}/${RUN_LOG_FILE}`;
  }

  #open(): Deno.FsFile {
    if (this.#file) return this.#file;
    Deno.mkdirSync(this.runDir, { recursive: true });
    let needsNewline = false;
    try {
      // Only the last byte matters (a long run's log can be large; a device file never ends).
      using f = Deno.openSync(this.path, { read: true });
      const size = f.statSync().size;
      if (size > 0) {
        const last = new Uint8Array(1);
        f.seekSync(size - 1, Deno.SeekMode.Start);
        needsNewline = f.readSync(last) === 1 && last[0] !== 0x0a;
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    this.#file = Deno.openSync(this.path, { append: true, create: true });
    if (needsNewline) this.#file.writeSync(this.#enc.encode("\n"));
    return this.#file;
  }

  /** Appends one message as one line. Returns the stamped message that was written. */
  append<T extends TelemetryMessage>(msg: T): T {
    return this.appendJson(msg).message;
  }

  /** Like {@link append}, also returning the JSON text written (without the newline) for reuse. */
  appendJson<T extends TelemetryMessage>(msg: T): { message: T; json: string } {
    const stamped = stamp(msg);
    const json = JSON.stringify(stamped);
    const bytes = this.#enc.encode(json + "\n");
    try {
      const f = this.#open();
      let off = 0;
      while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
    } catch (err) {
      throw writeError(this.path, err); // disk full: name the log, not just "os error 28"
    }
    return { message: stamped, json };
  }

  /** Reads every message logged so far (skipping a torn last line). Empty when the log does not exist. */
  async read(): Promise<TelemetryMessage[]> {
    return await readRunLog(this.runDir);
  }

  /** Closes the file handle (appending again reopens it). */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

/**
 * Reads `<runDir>/metrics.jsonl` as logged (every message, including the steps a resumed run re-did; see
 * {@link compactHistory}); an absent log is an empty history.
 */
export async function readRunLog(runDir: string): Promise<TelemetryMessage[]> {
  try {
    return parseRunLog(await Deno.readTextFile(`${runDir.replace(/\/+$/, "")}/${RUN_LOG_FILE}`));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

/** What `startDashboard` (dashboard/server.ts) returns. */
export interface DashboardHandle {
  /** Address to open, e.g. `http://127.0.0.1:8787/` (with `?token=` when a token is set). */
  url: string;
  /** Logs the message to the run log and sends it to every connected page. */
  publish(msg: TelemetryMessage): void;
  /** Stops the server and closes the log. */
  close(): Promise<void>;
}

/** Options of `startDashboard` (dashboard/server.ts). */
export interface DashboardOptions {
  /** Output folder holding one directory per run (listed by `/api/runs`, pictures served from it). */
  runsDir: string;
  /** Directory of the current run (inside `runsDir`); may be absent only with `readOnly`. */
  runDir?: string;
  /** Browse runs on disk only: create nothing, and `publish` throws (used by `hpseg dashboard`). */
  readOnly?: boolean;
  /** Bind address; default 127.0.0.1. A non-loopback host requires `token`. */
  host?: string;
  /** Port; default 8787; 0 picks a free port. */
  port?: number;
  /** Shared secret every request must carry (header `x-hpseg-token`, `Authorization: Bearer`, or `?token=`). */
  token?: string;
  /** The server stays up after the run (`train --keep-serving`): the page says so instead of "browse later". */
  keepServing?: boolean;
}

/** Where {@link createTelemetrySink} sends messages. All parts are optional. */
export interface TelemetrySinkOptions {
  /** Live dashboard: `publish` logs the message and streams it. */
  dashboard?: Pick<DashboardHandle, "publish">;
  /** Run log used when there is no dashboard (e.g. `--no-dashboard`), so history is still written. */
  log?: RunLog;
  /** Terminal progress (core/progress.ts `ProgressBar` fits). */
  progress?: {
    update(u: { step: number; losses?: LossTerms; imagesPerSec?: number; stepMs?: number }): void;
    log(line: string): void;
  };
}

/** The sentence a "done" status carries for a complete run, e.g. "finished 120 steps: cluster acc …". */
export function describeFinal(steps: number, f: FinalScores): string {
  const p = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} %` : "not computed");
  return `finished ${steps} steps: cluster acc ${p(f.cluster_acc)}, mIoU ${p(f.cluster_miou)}; ` +
    `linear acc ${p(f.linear_acc)}, mIoU ${p(f.linear_miou)}; k-means baseline mIoU ${p(f.kmeans_miou)}`;
}

/** One-line summary of an eval result for the terminal. */
export function formatEval(m: EvalMessage): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "-");
  const e = m.metrics;
  return `eval @ step ${m.step}: cluster acc ${f(e.cluster_acc)} mIoU ${f(e.cluster_miou)} | ` +
    `linear acc ${f(e.linear_acc)} mIoU ${f(e.linear_miou)}`;
}

/**
 * Returns the handler for a trainer Worker's messages on the main thread: telemetry goes to the dashboard
 * (or the run log), metrics drive the progress bar, eval results and final status lines are printed above it.
 * The handler returns false for anything that is not a telemetry message, so the caller can handle its own.
 *
 *     worker.onmessage = (e) => sink(e.data) || handleOther(e.data);
 */
export function createTelemetrySink(o: TelemetrySinkOptions): (msg: unknown) => boolean {
  return (msg) => {
    if (!isTelemetryMessage(msg)) return false;
    if (o.dashboard) o.dashboard.publish(msg);
    else o.log?.append(msg);
    if (!o.progress) return true;
    if (msg.type === "metrics") {
      o.progress.update({
        step: msg.step,
        losses: msg.losses,
        imagesPerSec: msg.imagesPerSec,
        stepMs: msg.stepMs,
      });
    } else if (msg.type === "eval") o.progress.log(formatEval(msg));
    else if (msg.type === "status" && (msg.state === "failed" || msg.state === "done") && msg.message) {
      o.progress.log(`${msg.state}: ${msg.message}`);
    }
    return true;
  };
}

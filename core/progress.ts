/**
 * Progress and time estimates.
 *
 * {@link RunEta} is THE estimate of a training run's remaining time: the trainer Worker owns
 * one, feeds it the wall-clock duration of every piece of work (pool batches, steps, validation batches) and
 * sends its smoothed answer with every progress tick and metrics message, so the terminal bar and the
 * dashboard show the same number. It counts everything left: the steps, the validations still to come, the
 * final evaluation and the k-means baseline, each from measured rates (exponentially smoothed), with
 * first guesses from related measurements (a validation image ≈ a pool image scaled by the patch count)
 * until the real ones arrive.
 *
 * {@link ProgressBar} is the terminal view: on a TTY, one bar line redrawn in place (at most
 * every 100 ms) with percentage, ETA, losses and throughput; otherwise (CI logs, pipes) plain lines without
 * escape codes, at most one per `plainIntervalMs`, plus the last update when {@link ProgressBar.done} is
 * called. Lines logged through {@link ProgressBar.log} appear above the bar without tearing it. It shows the
 * ETA it is given; without one (other commands) it estimates from the wall-clock step rate over the last
 * `window` updates.
 * @module
 */

/** Exponential moving average of seconds per unit of work (first sample taken as is). */
export class SmoothedRate {
  #perUnit = NaN;
  #samples = 0;
  constructor(readonly alpha = 0.2) {}

  /** Adds `seconds` spent on `units` units (ignored when units ≤ 0). */
  add(seconds: number, units = 1): void {
    if (!(units > 0) || !Number.isFinite(seconds) || seconds < 0) return;
    const v = seconds / units;
    this.#perUnit = this.#samples === 0 ? v : this.#perUnit + this.alpha * (v - this.#perUnit);
    this.#samples++;
  }

  /** Seconds per unit; NaN before the first sample. */
  get perUnit(): number {
    return this.#perUnit;
  }

  get samples(): number {
    return this.#samples;
  }
}

/** Phases of a training run, in order (validation interleaves with training). */
export type RunPhase = "setup" | "pool" | "train" | "validate" | "baseline" | "final";

/** What a run still has to do, as far as the estimate is concerned. */
export interface RunShape {
  totalSteps: number;
  /** Batch size and images per step forward (2 with the augmented view). */
  batch: number;
  forwardsPerImage: number;
  /** Validation every N steps (0 = never) and its image count. */
  validEvery: number;
  valImages: number;
  /** Patch-count ratio eval.res² / train.res² (a validation image costs about this many pool images). */
  evalCost: number;
  /** Images the k-means baseline fits on (0 = no baseline). */
  baselineImages: number;
}

/**
 * A training step's cost in clean forwards of its images, for the first guess before any step is timed:
 * the backbone forward(s) dominate; heads, loss, backward and optimisers add about half again (measured on
 * the embedded default: 0.48 s per step against 0.03 s per pool image at batch 8).
 */
const STEP_PER_FORWARD = 1.5;

/** The one smoothed estimate of a run's remaining wall time (module comment). */
export class RunEta {
  readonly step = new SmoothedRate(0.1);
  /** Seconds per image of a clean forward at train.res (pool building). */
  readonly poolImage = new SmoothedRate(0.2);
  /** Seconds per validation image (validation, baseline and final passes). */
  readonly valImage = new SmoothedRate(0.3);

  constructor(readonly shape: RunShape) {}

  /** Seconds per validation image: measured, else guessed from pool images or training steps. */
  secondsPerValImage(): number {
    if (this.valImage.samples) return this.valImage.perUnit;
    const s = this.shape;
    let perImage = this.poolImage.perUnit;
    if (!Number.isFinite(perImage) && this.step.samples) {
      perImage = this.step.perUnit / (s.batch * Math.max(1, s.forwardsPerImage));
    }
    return perImage * s.evalCost;
  }

  /** Seconds per training step: measured, else guessed from the pool images (before the first steps). */
  secondsPerStep(): number {
    if (this.step.samples) return this.step.perUnit;
    const s = this.shape;
    return this.poolImage.perUnit * s.batch * Math.max(1, s.forwardsPerImage) * STEP_PER_FORWARD;
  }

  /**
   * Seconds left after `step` steps, with `phaseLeft` seconds of the current piece of work still to go
   * (e.g. the rest of a validation); NaN while no rate is known.
   */
  remaining(step: number, phaseLeft = 0): number {
    const s = this.shape, stepSec = this.secondsPerStep(), val = this.secondsPerValImage();
    const stepsLeft = Math.max(0, s.totalSteps - step);
    const validations = s.validEvery > 0
      ? Math.max(0, Math.floor((s.totalSteps - 1) / s.validEvery) - Math.floor(step / s.validEvery))
      : 0;
    const evalSec = (validations + 1) * s.valImages * val + s.baselineImages * val;
    const trainSec = stepsLeft === 0 ? 0 : stepsLeft * stepSec;
    return phaseLeft + trainSec + evalSec;
  }
}

/** What one update reports (a subset of a telemetry metrics message). */
export interface ProgressUpdate {
  step: number;
  losses?: { total: number; ghp?: number; lhp?: number };
  imagesPerSec?: number;
  stepMs?: number;
  /** Short free text, e.g. "evaluating". */
  note?: string;
  /** Seconds left as estimated elsewhere (the trainer's {@link RunEta}); NaN = unknown. */
  etaSeconds?: number;
}

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  total: number;
  /** Text before the bar (default "train"). */
  label?: string;
  /** Draw an in-place bar (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Terminal width (default: `Deno.consoleSize()` columns, else 100). */
  columns?: number;
  /** Where text goes (default: synchronous writes to stderr). */
  write?: (text: string) => void;
  /** Clock in ms (default `performance.now`); tests pass a fake one. */
  now?: () => number;
  /** Least time between plain lines (default 10 s). */
  plainIntervalMs?: number;
  /** Least time between TTY redraws (default 100 ms). */
  redrawMs?: number;
  /** Updates in the ETA rate window (default 20). */
  window?: number;
}

/** Formats seconds as `1h02m`, `3m05s` or `42s`; unknown (NaN, ∞, negative) as `--`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

function num(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}

/** The text after the bar: ETA, losses, throughput, note. `compact` drops the loss breakdown and ms/step. */
export function statsText(u: ProgressUpdate, etaSeconds: number, compact = false): string {
  const parts = [`ETA ${formatDuration(etaSeconds)}`];
  if (u.losses) {
    let l = `loss ${num(u.losses.total, 4)}`;
    if (!compact && (u.losses.ghp !== undefined || u.losses.lhp !== undefined)) {
      l += ` (ghp ${num(u.losses.ghp, 3)} lhp ${num(u.losses.lhp, 3)})`;
    }
    parts.push(l);
  }
  if (u.imagesPerSec !== undefined) parts.push(`${num(u.imagesPerSec, 1)} img/s`);
  if (u.stepMs !== undefined && !compact) parts.push(`${num(u.stepMs, 1)} ms/step`);
  if (u.note) parts.push(u.note);
  return parts.join("  ");
}

/**
 * One TTY line, at most `columns` characters: `label  42% [█████░░░░] 420/1000  ETA …`. The bar takes what
 * the text leaves (up to 40 cells); when fewer than 10 cells are left the text is shortened (no loss
 * breakdown, no ms/step), then the bar is left out, and finally the line is cut.
 */
export function renderBarLine(
  label: string,
  u: ProgressUpdate,
  total: number,
  etaSeconds: number,
  columns: number,
): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, u.step / total)) : 0;
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const count = `${u.step}/${total}`;
  let line = "";
  for (const compact of [false, true]) {
    const stats = statsText(u, etaSeconds, compact);
    const barCells = Math.min(40, columns - `${label} ${pct} [] ${count}  ${stats}`.length);
    if (barCells >= 10) {
      const full = Math.round(frac * barCells);
      line = `${label} ${pct} [${"█".repeat(full)}${"░".repeat(barCells - full)}] ${count}  ${stats}`;
      break;
    }
    line = `${label} ${pct}  ${count}  ${stats}`;
  }
  return line.length > columns ? line.slice(0, Math.max(0, columns - 1)) + "…" : line;
}

/** One plain (non-TTY) progress line. */
export function renderPlainLine(label: string, u: ProgressUpdate, total: number, etaSeconds: number): string {
  const pct = total > 0 ? ((100 * u.step) / total).toFixed(1) : "0.0";
  return `${label} step ${u.step}/${total} (${pct}%)  ${statsText(u, etaSeconds)}`;
}

const enc = new TextEncoder();

function defaultWrite(text: string): void {
  const b = enc.encode(text);
  let off = 0;
  while (off < b.length) off += Deno.stderr.writeSync(b.subarray(off));
}

function defaultColumns(): number {
  try {
    return Deno.consoleSize().columns || 100;
  } catch {
    return 100;
  }
}

/** Progress reporter; see the module comment. */
export class ProgressBar {
  readonly tty: boolean;
  readonly #o: Required<Omit<ProgressOptions, "tty" | "columns">> & { columns: number };
  #samples: [number, number][] = []; // (time ms, step)
  #last: ProgressUpdate | undefined;
  #lastDraw = -Infinity;
  #lastPlain = -Infinity;
  #lastPrinted: ProgressUpdate | undefined;
  #barShown = false;
  #finished = false;

  constructor(opts: ProgressOptions) {
    this.tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#o = {
      total: opts.total,
      label: opts.label ?? "train",
      columns: opts.columns ?? (this.tty ? defaultColumns() : 100),
      write: opts.write ?? defaultWrite,
      now: opts.now ?? (() => performance.now()),
      plainIntervalMs: opts.plainIntervalMs ?? 10_000,
      redrawMs: opts.redrawMs ?? 100,
      window: Math.max(2, opts.window ?? 20),
    };
  }

  /**
   * Seconds left: the estimate the last update carried, else from the step rate over the recent window;
   * NaN until two updates have arrived.
   */
  eta(): number {
    if (this.#last?.etaSeconds !== undefined) return this.#last.etaSeconds;
    const s = this.#samples;
    if (s.length < 2 || !this.#last) return NaN;
    const [t0, s0] = s[0], [t1, s1] = s[s.length - 1];
    if (s1 <= s0 || t1 <= t0) return NaN;
    const msPerStep = (t1 - t0) / (s1 - s0);
    return (Math.max(0, this.#o.total - this.#last.step) * msPerStep) / 1000;
  }

  /** Reports progress; draws when due. */
  update(u: ProgressUpdate): void {
    if (this.#finished) return;
    const t = this.#o.now();
    this.#samples.push([t, u.step]);
    if (this.#samples.length > this.#o.window) this.#samples.shift();
    this.#last = u;
    if (this.tty) {
      if (u.step >= this.#o.total || t - this.#lastDraw >= this.#o.redrawMs) this.#draw(t);
    } else if (t - this.#lastPlain >= this.#o.plainIntervalMs) {
      this.#lastPlain = t;
      this.#plainLine(u);
    }
  }

  // The last update is printed by done() when it was not printed already, so a trainer that reports the final
  // step twice (a tick, then the metrics) gets one final line, with the most information.
  #plainLine(u: ProgressUpdate): void {
    this.#lastPrinted = u;
    this.#o.write(renderPlainLine(this.#o.label, u, this.#o.total, this.eta()) + "\n");
  }

  #draw(t: number): void {
    if (!this.#last) return;
    this.#lastDraw = t;
    this.#barShown = true;
    this.#o.write(
      "\r\x1b[2K" + renderBarLine(this.#o.label, this.#last, this.#o.total, this.eta(), this.#o.columns),
    );
  }

  /** Prints a line above the bar (or as is when not a TTY). */
  log(line: string): void {
    if (this.tty && this.#barShown) {
      this.#o.write("\r\x1b[2K" + line + "\n");
      this.#draw(this.#o.now());
    } else this.#o.write(line + "\n");
  }

  /** Ends the bar with a newline and an optional summary line. */
  done(summary?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.tty && this.#barShown) {
      this.#draw(this.#o.now());
      this.#o.write("\n");
    } else if (!this.tty && this.#last && this.#last !== this.#lastPrinted) this.#plainLine(this.#last);
    if (summary) this.#o.write(summary + "\n");
  }
}

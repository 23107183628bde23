/**
 * The trainer's side of the progress stream: one {@link RunProgress} per run turns every
 * piece of work — pool batches, training steps, validation batches, the baseline and the final pass —
 * into `tick` messages with monotonic steps and the run's one smoothed estimate of the time left
 * (core/progress.ts RunEta), and posts a whole-run estimate once the first steps are timed. The same
 * estimate goes into every metrics message, so terminal and dashboard agree.
 * @module
 */
import { formatDuration, RunEta, type RunPhase } from "../progress.ts";
import type { TelemetryMessage } from "../telemetry.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { baselineSample } from "../eval/kmeans.ts";

/** The progress stream (every piece of work; not logged, drives the terminal bar and Ctrl-C). */
export interface TickMessage {
  type: "tick";
  phase: RunPhase;
  /** Training steps done (never decreases). */
  step: number;
  totalSteps: number;
  /** Units of this phase done and in all: pool batches, validation images or training steps. */
  done: number;
  total: number;
  /** The run's remaining wall time in seconds (core/progress.ts RunEta); null until known. */
  etaSeconds: number | null;
  /** Step of the newest checkpoint on disk; null before the first. */
  checkpointStep: number | null;
  /** performance.now() in the trainer's thread when training step `step` was done (train ticks only). */
  at?: number;
}

/** Progress and interruption of a long GPU phase. */
export interface PhaseHooks {
  /** After each piece of work: units done so far, units in all, seconds since the previous call. */
  onProgress?: (done: number, total: number, seconds: number) => void;
  /** Polled between pieces: true gives up with {@link Interrupted}. */
  shouldStop?: () => boolean;
}

/** Steps after a start or resume that wait for the GPU, so their times (and the estimate) are real. */
const SYNCED_STEPS = 3;
/** Shortest window of unsynced steps one step-time sample covers (GPU work is queued, not waited for). */
const SAMPLE_MS = 1000;

/** Progress bookkeeping of one run (module comment). */
export class RunProgress {
  #eta: RunEta | null = null;
  #total = 0;
  #step = 0;
  #checkpoint: number | null = null;
  #runId = "";
  #mark = { t: performance.now(), step: 0, excluded: 0 };
  #synced = 0;
  #estimated = false;

  constructor(
    readonly post: (m: TelemetryMessage | TickMessage) => void,
    readonly shouldStop?: () => boolean,
  ) {}

  /** Sets up the estimate once the run's shape is known (after the feasibility checks). */
  start(
    cfg: HpConfig,
    o: { totalSteps: number; valImages: number; patches: number; skipBaseline: boolean; runId?: string },
  ): void {
    this.#total = o.totalSteps;
    this.#runId = o.runId ?? "";
    this.#eta = new RunEta({
      totalSteps: o.totalSteps,
      batch: cfg.train.batch,
      forwardsPerImage: cfg.hp.alpha > 0 ? 2 : 1,
      validEvery: cfg.eval.valid_freq,
      valImages: o.valImages,
      evalCost: (cfg.eval.res / cfg.train.res) ** 2,
      baselineImages: o.skipBaseline
        ? 0
        : baselineSample(o.valImages, o.patches, cfg.train.seed).images.length,
    });
    this.#mark = { t: performance.now(), step: 0, excluded: 0 };
  }

  /** A resumed run starts counting at `step`. */
  resumedAt(step: number): void {
    this.#step = step;
    this.#mark = { t: performance.now(), step, excluded: 0 };
  }

  /** The run's remaining seconds, or null while unknown. */
  etaSeconds(phaseLeft = 0): number | null {
    const v = this.#eta?.remaining(this.#step, phaseLeft);
    return v !== undefined && Number.isFinite(v) ? v : null;
  }

  /** Smoothed wall-clock ms per training step (0 before the first sample). */
  msPerStep(): number {
    const v = this.#eta?.step.perUnit ?? NaN;
    return Number.isFinite(v) ? v * 1000 : 0;
  }

  /** Posts one tick. */
  tick(phase: RunPhase, done: number, total: number, extra: { at?: number; phaseLeft?: number } = {}): void {
    this.post({
      type: "tick",
      phase,
      step: this.#step,
      totalSteps: this.#total,
      done,
      total,
      etaSeconds: this.etaSeconds(extra.phaseLeft ?? 0),
      checkpointStep: this.#checkpoint,
      ...(extra.at !== undefined ? { at: extra.at } : {}),
    });
  }

  /** Progress and stop hooks for a GPU phase whose unit is `imagesPerUnit` images (pool: a batch). */
  hooks(phase: RunPhase, imagesPerUnit: number): PhaseHooks {
    let prev = 0;
    return {
      shouldStop: this.shouldStop,
      onProgress: (done, total, seconds) => {
        const units = done - prev;
        prev = done;
        const eta = this.#eta;
        if (eta && units > 0) {
          (phase === "pool" ? eta.poolImage : eta.valImage).add(seconds, units * imagesPerUnit);
        }
        const perUnit = units > 0 ? seconds / units : 0;
        this.tick(phase, done, total, { phaseLeft: (total - done) * perUnit });
      },
    };
  }

  /** Whether the step just submitted should be waited for (the first few after a start or resume). */
  wantsSync(): boolean {
    return this.#synced < SYNCED_STEPS;
  }

  /** Training step `step` is done: times it, ticks, and posts the whole-run estimate when due. */
  stepDone(step: number): void {
    const now = performance.now(), eta = this.#eta;
    this.#step = step;
    const m = this.#mark, steps = step - m.step, ms = now - m.t - m.excluded;
    const synced = this.#synced < SYNCED_STEPS;
    if (synced) this.#synced++;
    // The very first step also compiles shaders on some drivers: not a sample when more steps follow.
    const warmUp = synced && this.#synced === 1 && this.#total - step >= SYNCED_STEPS;
    if (eta && steps > 0 && (synced || ms >= SAMPLE_MS || step >= this.#total)) {
      if (!warmUp) eta.step.add(ms / 1000, steps);
      this.#mark = { t: now, step, excluded: 0 };
    }
    this.tick("train", step, this.#total, { at: now });
    if (
      !this.#estimated && eta && eta.step.samples > 0 && (this.#synced >= SYNCED_STEPS || step >= this.#total)
    ) {
      this.#estimated = true;
      const left = this.etaSeconds();
      if (left !== null) {
        const s = eta.shape,
          v = s.validEvery > 0
            ? Math.max(0, Math.floor((s.totalSteps - 1) / s.validEvery) - Math.floor(step / s.validEvery))
            : 0;
        this.post({
          type: "status",
          state: "running",
          runId: this.#runId,
          message: `estimate: ${s.totalSteps - step} more steps at ${eta.step.perUnit.toFixed(2)} s, ` +
            `${v} validation(s) and the final evaluation of ${s.valImages} images: about ` +
            `${formatDuration(left)} left`,
        });
      }
    }
  }

  /** Runs a validation-like pass, keeping its time out of the step rate. */
  async validation<T>(fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.#mark.excluded += performance.now() - t0;
    }
  }

  /** Runs the baseline fit (timed like a validation). */
  baseline<T>(fn: () => Promise<T>): Promise<T> {
    return this.validation(fn);
  }

  /** A checkpoint of step `step` is on disk. */
  checkpointed(step: number): void {
    this.#checkpoint = step;
  }
}

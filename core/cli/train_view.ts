/**
 * What `hpseg train` shows while the trainer Worker runs: one progress bar fed by the
 * trainer's tick stream (monotonic steps, the trainer's one ETA; losses from metrics messages), the
 * progress published to the dashboard at phase changes and every few seconds, and the answer to Ctrl-C —
 * given at once, in every phase: where nothing new would be saved (setting up, building the first pools,
 * the final evaluation) the run stops immediately; otherwise the trainer saves a checkpoint after the GPU
 * work in flight and stops, and a second Ctrl-C quits without waiting.
 * @module
 */
import { ProgressBar } from "../progress.ts";
import type { ProgressMessage, TelemetryMessage } from "../telemetry.ts";
import type { TickMessage } from "../train/progress.ts";

/**
 * Least time between progress messages published to the dashboard within one phase: training steps also
 * send metrics messages (with the ETA), the other phases (pools, validation, baseline, final evaluation)
 * only these, so the page shows their progress every 2 s (issue 14 §5).
 */
const PUBLISH_MS = 10_000;
const PUBLISH_OTHER_MS = 2_000;

const PHASE_NOTE: Record<string, string> = {
  setup: "setting up",
  pool: "building pools",
  validate: "validating",
  baseline: "k-means baseline",
  final: "final evaluation",
};

/** How to answer a Ctrl-C. */
export type InterruptAnswer = { now: true; line: string } | { now: false; line: string };

/** The terminal and dashboard view of a running trainer; see the module comment. */
export class TrainView {
  #bar: ProgressBar | null = null;
  #last: TickMessage | null = null;
  #published = { phase: "", at: -Infinity };

  constructor(
    readonly publish: (m: TelemetryMessage) => void,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** Prints a line above the bar (or plainly before it exists). */
  say(line: string): void {
    if (this.#bar) this.#bar.log(line);
    else console.error(line);
  }

  /** The latest tick (phase, step, checkpoint). */
  get last(): TickMessage | null {
    return this.#last;
  }

  /** Handles one tick of the trainer's progress stream. */
  onTick(m: TickMessage): void {
    this.#last = m;
    const eta = m.etaSeconds ?? NaN;
    if (m.totalSteps > 0) {
      this.#bar ??= new ProgressBar({ total: m.totalSteps, label: "train" });
      const note = m.phase === "train"
        ? undefined
        : `${PHASE_NOTE[m.phase] ?? m.phase}${m.total > 0 ? ` ${m.done}/${m.total}` : ""}`;
      this.#bar.update({ step: m.step, note, etaSeconds: eta });
    }
    const t = this.now();
    const every = m.phase === "train" ? PUBLISH_MS : PUBLISH_OTHER_MS;
    const last = m.phase !== "train" && m.total > 0 && m.done === m.total;
    if (m.phase !== this.#published.phase || t - this.#published.at >= every || last) {
      this.#published = { phase: m.phase, at: t };
      const p: ProgressMessage = {
        type: "progress",
        phase: m.phase,
        step: m.step,
        totalSteps: m.totalSteps,
        done: m.done,
        total: m.total,
        etaSeconds: m.etaSeconds,
      };
      this.publish(p);
    }
  }

  /** Shows a metrics message's losses and rates (the step shown stays the tick stream's). */
  onMetrics(m: Extract<TelemetryMessage, { type: "metrics" }>): void {
    if (!this.#bar) return;
    this.#bar.update({
      step: Math.max(this.#last?.step ?? 0, 0),
      losses: { total: m.losses.total, ghp: m.losses.ghp, lhp: m.losses.lhp },
      imagesPerSec: m.imagesPerSec,
      stepMs: m.stepMs,
      etaSeconds: m.etaSeconds ?? this.#last?.etaSeconds ?? NaN,
    });
  }

  /** Ends the bar. */
  done(summary?: string): void {
    this.#bar?.done(summary);
  }

  /**
   * The answer to the first Ctrl-C, from the phase the trainer is in: stop now when nothing new would be
   * saved, else ask for a checkpoint after the GPU work in flight.
   */
  interrupt(resumeFrom: number | null): InterruptAnswer {
    const m = this.#last;
    const saved = m?.checkpointStep ?? resumeFrom;
    const phase = m?.phase ?? "setup";
    const newWork = m !== null && m.step > (saved ?? 0) && (phase === "train" || phase === "validate" ||
      (phase === "pool" && m.step > 0));
    if (!newWork) {
      const what = phase === "final" || phase === "baseline"
        ? `training is complete (step ${m?.step}); --resume runs the final evaluation again`
        : saved !== null && saved !== undefined
        ? `nothing new since the checkpoint of step ${saved}`
        : "nothing to save yet";
      return { now: true, line: `interrupt: stopped while ${PHASE_NOTE[phase] ?? "training"}: ${what}` };
    }
    const resume = saved !== null && saved !== undefined ? `; the run would resume from step ${saved}` : "";
    return {
      now: false,
      line:
        `interrupt: saving a checkpoint at step ${m!.step} once the GPU finishes its current work, then ` +
        `stopping (Ctrl-C again to quit now${resume})`,
    };
  }
}

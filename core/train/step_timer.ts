/**
 * GPU time per phase of a training step, where the adapter has timestamp queries (webgpu-notes.md §1.7).
 * On steps whose metrics are captured, the trainer writes a timestamp before the first phase and after
 * each phase (StepRecorder.timestamp, between passes), resolves them and copies the raw u64 nanoseconds
 * behind the metrics in the same buffer, so they travel with the metrics readback: nothing is awaited in
 * the step. Adapters without `timestamp-query` get no timer (create() returns null).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/buffers.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";

/** The phases of HpGraph.step, in recording order. */
export const STEP_PHASES = ["backbone", "heads", "loss", "probes", "backward", "optimiser"] as const;
export type StepPhase = typeof STEP_PHASES[number];

/** Timestamp slots: one before the first phase and one after each. */
const SLOTS = STEP_PHASES.length + 1;

export class StepTimer {
  /** u32 words the timestamps take in the metrics buffer (2 per u64). */
  static readonly WORDS = 2 * SLOTS;

  private constructor(
    private readonly querySet: GPUQuerySet,
    private readonly resolved: GPUBuffer,
  ) {}

  /** A timer for `gpu`, or null when the adapter has no timestamp queries. */
  static create(gpu: Gpu): StepTimer | null {
    if (!gpu.hasTimestamps) return null;
    const querySet = gpu.device.createQuerySet({ type: "timestamp", count: SLOTS, label: "step-timer" });
    const resolved = gpu.device.createBuffer({
      label: "step-timer.resolved",
      size: Math.ceil((SLOTS * 8) / 256) * 256,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    return new StepTimer(querySet, resolved);
  }

  /** Marks slot `i` (0 = before the first phase, k = after phase k−1). */
  mark(rec: StepRecorder, i: number): void {
    rec.timestamp(this.querySet, i);
  }

  /** Resolves the step's timestamps and copies them into `dst` at byte `dstOffset`. */
  record(rec: StepRecorder, dst: GpuTensor, dstOffset: number): void {
    rec.resolveTimestamps(this.querySet, SLOTS, this.resolved);
    rec.copy(this.resolved, dst, SLOTS * 8, 0, dstOffset);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolved.destroy();
  }
}

/**
 * Milliseconds per phase from the raw timestamps at byte `offset` of a metrics capture; null when they
 * are unusable (not monotonic, or all zero as some drivers report before the first resolve).
 */
export function decodePhaseMs(data: ArrayBuffer, offset: number): Record<StepPhase, number> | null {
  if (offset + SLOTS * 8 > data.byteLength) return null;
  const words = new Uint32Array(data, offset, 2 * SLOTS);
  const ns = Array.from({ length: SLOTS }, (_, i) => words[2 * i + 1] * 2 ** 32 + words[2 * i]);
  if (ns[SLOTS - 1] <= ns[0]) return null;
  const out = {} as Record<StepPhase, number>;
  for (let k = 0; k < STEP_PHASES.length; k++) {
    const d = ns[k + 1] - ns[k];
    if (!(d >= 0)) return null;
    out[STEP_PHASES[k]] = d / 1e6;
  }
  return out;
}

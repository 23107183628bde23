/**
 * Test helper for kernel tests: record dispatches in one submit, then read tensors back.
 * @module
 */
import type { Dispatch } from "../../core/gpu/pipelines.ts";
import type { GpuTensor } from "../../core/gpu/buffers.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import type { Gpu } from "../../core/gpu/device.ts";

/**
 * A view of `gpu` that reports a tiny maxComputeWorkgroupsPerDimension, so wrappers must spread their
 * grids over 2-D (or fold batches into z) on small, cheap shapes — the path real shapes beyond 65,535
 * workgroups take.
 */
export function smallGrid(gpu: Gpu, maxPerDim = 7): Gpu {
  const limits = { maxComputeWorkgroupsPerDimension: maxPerDim } as unknown as GPUSupportedLimits;
  return { ...gpu, limits };
}

/** Submits `ds` in one encoder and reads `out` back as float32. */
export async function runAndRead(gpu: Gpu, ds: Dispatch | Dispatch[], out: GpuTensor): Promise<Float32Array> {
  new StepRecorder(gpu).dispatch(...(Array.isArray(ds) ? ds : [ds])).submit();
  return await readF32(gpu, out);
}

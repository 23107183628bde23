/**
 * Per-kernel GPU time for benches: records work through a profiling {@link StepRecorder} (one compute pass
 * per dispatch, start and end timestamps), resolves the timestamps and sums them per dispatch label.
 * Needs the adapter's `timestamp-query`; without it the profile is null and the reason says so.
 * Per-dispatch passes add a little overhead per dispatch, so the sum may exceed the pipelined time.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";

/** GPU time of one label over the profiled work. */
export interface KernelTime {
  name: string;
  dispatches: number;
  ms: number;
  /** Fraction of the summed GPU time. */
  share: number;
}

/** Times every dispatch `record` makes (at most `maxDispatches`); sorted by time, largest first. */
export async function profileKernels(
  gpu: Gpu,
  maxDispatches: number,
  record: (rec: StepRecorder) => void,
): Promise<{ kernels: KernelTime[] | null; totalMs: number; reason?: string }> {
  if (!gpu.hasTimestamps) {
    return { kernels: null, totalMs: 0, reason: "the adapter lacks timestamp-query: no per-kernel times" };
  }
  const count = 2 * maxDispatches;
  const querySet = gpu.device.createQuerySet({ type: "timestamp", count });
  const resolve = gpu.device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = gpu.device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const rec = new StepRecorder(gpu, "profile", { profile: querySet });
    record(rec);
    const n = rec.profiled.length;
    rec.resolveTimestamps(querySet, 2 * n, resolve);
    rec.copy(resolve, read, 2 * n * 8);
    rec.submit();
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    const by = new Map<string, { dispatches: number; ns: number }>();
    let total = 0;
    for (let i = 0; i < n; i++) {
      const ns = Math.max(0, Number(t[2 * i + 1] - t[2 * i]));
      const e = by.get(rec.profiled[i]) ?? { dispatches: 0, ns: 0 };
      e.dispatches++;
      e.ns += ns;
      by.set(rec.profiled[i], e);
      total += ns;
    }
    const kernels = [...by].map(([name, e]) => ({
      name,
      dispatches: e.dispatches,
      ms: e.ns / 1e6,
      share: total > 0 ? e.ns / total : 0,
    })).sort((a, b) => b.ms - a.ms);
    return { kernels, totalMs: total / 1e6 };
  } finally {
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  }
}

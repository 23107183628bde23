/**
 * Small GPU helpers private to core/hp (the leading underscore).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import { grid1d } from "../gpu/pipelines.ts";

const rwDummies = new WeakMap<BufferArena, GpuTensor>();

/**
 * A 4-byte tensor for an unused read_write binding. Distinct from `arena.dummy()`, which unused read-only
 * bindings of the same dispatch may hold: one buffer cannot be bound read-only and writable at once.
 */
export function rwDummy(arena: BufferArena): GpuTensor {
  let t = rwDummies.get(arena);
  if (!t || t.destroyed) {
    t = arena.tensor([1], "f32", "rw-dummy");
    rwDummies.set(arena, t);
  }
  return t;
}

/** Grid of 256-thread workgroups covering `n` elements (2-D beyond 65,535 workgroups). */
export function elementGrid(gpu: Gpu, n: number): [number, number, number] {
  return grid1d(Math.ceil(n / 256), gpu.limits.maxComputeWorkgroupsPerDimension);
}

/** Grid with one workgroup per row. */
export function rowGrid(gpu: Gpu, rows: number): [number, number, number] {
  return grid1d(rows, gpu.limits.maxComputeWorkgroupsPerDimension);
}

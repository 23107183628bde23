/**
 * Helpers every kernel wrapper shares (core/kernels, and the model's own kernels in core/model): argument
 * checks, workgroup sizes and grids, the masking constant, the write-only dummy binding.
 *
 * Every wrapper checks, before it binds anything, that the tensors it was given hold every element the
 * kernel will address, and throws a TypeError naming the kernel, the tensor and both sizes.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import { grid1d } from "../gpu/pipelines.ts";

/** Throws a TypeError when `t` has fewer than `needed` elements. */
export function checkExtent(kernel: string, name: string, t: GpuTensor, needed: number): void {
  if (needed > t.size) {
    throw new TypeError(
      `${kernel}: ${name} "${t.label}" has ${t.size} elements but the kernel addresses ${needed}`,
    );
  }
}

/** Throws a TypeError when `t` is not of dtype `dtype`. */
export function checkDtype(
  kernel: string,
  name: string,
  t: GpuTensor,
  ...dtypes: GpuTensor["dtype"][]
): void {
  if (!dtypes.includes(t.dtype)) {
    throw new TypeError(`${kernel}: ${name} "${t.label}" is ${t.dtype}, expected ${dtypes.join(" or ")}`);
  }
}

/** Throws a TypeError unless every named value is a positive integer (or zero when `allowZero`). */
export function checkDims(kernel: string, dims: Record<string, number>, allowZero = false): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
      throw new TypeError(
        `${kernel}: ${k} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${v}`,
      );
    }
  }
}

/** Layout of a row-wise map X [rows, cols] → Y [rows, cols] with row strides and element offsets. */
export interface RowsInOut {
  rows: number;
  cols: number;
  ldx: number;
  ldy: number;
  xOffset: number;
  yOffset: number;
}

/**
 * Checks the X and Y of a row-wise kernel (X f32, Y f32 or one of `yTypes`; both large enough for the
 * layout) and returns whether it runs in place (`x === y`, which needs identical offsets and strides: one row is read and then written).
 * @throws TypeError naming the kernel and tensor.
 */
export function checkRowsInOut(
  kernel: string,
  r: RowsInOut,
  x: GpuTensor,
  y: GpuTensor,
  yTypes: GpuTensor["dtype"][] = ["f32"],
): boolean {
  const inPlace = x === y;
  if (inPlace && (r.ldx !== r.ldy || r.xOffset !== r.yOffset)) {
    throw new TypeError(`${kernel}: in place (x === y) needs identical X and Y offsets and strides`);
  }
  checkDtype(kernel, "x", x, "f32");
  checkDtype(kernel, "y", y, ...yTypes);
  checkExtent(kernel, "x", x, r.xOffset + (r.rows - 1) * r.ldx + r.cols);
  checkExtent(kernel, "y", y, r.yOffset + (r.rows - 1) * r.ldy + r.cols);
  return inPlace;
}

/** Workgroup size for one-workgroup-per-row kernels: the next power of two ≥ cols/2, clamped to [32, 256]. */
export function rowWorkgroupSize(cols: number): number {
  let wg = 32;
  while (wg < 256 && wg * 2 <= cols) wg *= 2;
  return wg;
}

/**
 * The large finite negative used for masking (WGSL assumes no ±inf, webgpu-notes.md §2.3): -1e30 rounded
 * to f32, so the shaders' `-1e30` and CPU references clamp to the same value.
 */
export const MASK_NEG: number = Math.fround(-1e30);

// ---- grids and bindings
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

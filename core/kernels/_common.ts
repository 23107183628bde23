/**
 * Small helpers shared by the kernel wrappers in core/kernels (private: the leading underscore).
 *
 * Every wrapper checks, before it binds anything, that the tensors it was given hold every element the
 * kernel will address, and throws a TypeError naming the kernel, the tensor and both sizes.
 * @module
 */
import type { GpuTensor } from "../gpu/buffers.ts";

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
 * Checks the X and Y of a row-wise kernel (both f32, large enough for the layout) and returns whether it
 * runs in place (`x === y`, which needs identical offsets and strides: one row is read and then written).
 * @throws TypeError naming the kernel and tensor.
 */
export function checkRowsInOut(kernel: string, r: RowsInOut, x: GpuTensor, y: GpuTensor): boolean {
  const inPlace = x === y;
  if (inPlace && (r.ldx !== r.ldy || r.xOffset !== r.yOffset)) {
    throw new TypeError(`${kernel}: in place (x === y) needs identical X and Y offsets and strides`);
  }
  checkDtype(kernel, "x", x, "f32");
  checkDtype(kernel, "y", y, "f32");
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

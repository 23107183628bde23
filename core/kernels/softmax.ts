/**
 * Row softmax and log-softmax with an optional scale and an additive mask (dino-backbone.md §2 attention,
 * hp-method.md §3 attention prior). Kernel: shaders/kernels/softmax.wgsl (with shaders/include/wg_reduce.wgsl).
 *
 * Masking is additive with a large finite negative ({@link MASK_NEG}), never -inf (webgpu-notes.md §2.3):
 * put 0 where a logit is kept and MASK_NEG where it is dropped. A fully masked row comes out uniform.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent, checkRowsInOut, MASK_NEG, rowWorkgroupSize } from "./common.ts";
import source from "../../shaders/kernels/softmax.wgsl" with { type: "text" };

export { MASK_NEG };

/** Layout of one row softmax over `rows` rows of `cols` values; strides and offsets in elements. */
export interface SoftmaxShape {
  rows: number;
  cols: number;
  /** Multiplies every logit before the mask is added (e.g. 1/√d for attention). Default 1. */
  scale?: number;
  /** Write log-softmax instead of softmax. */
  log?: boolean;
  /** Row stride of X (default cols). */
  ldx?: number;
  /** Row stride of Y (default cols). */
  ldy?: number;
  xOffset?: number;
  yOffset?: number;
  /**
   * Additive mask layout: row r uses mask row ⌊r / rowsPerMaskRow⌋ at `offset + ⌊r/rowsPerMaskRow⌋·ld`.
   * `ld: 0` broadcasts one [cols] mask to every row (a column mask); `rowsPerMaskRow: N` shares one mask
   * row between N consecutive rows (e.g. a key-padding mask for all queries and heads of one image).
   */
  mask?: { ld?: number; offset?: number; rowsPerMaskRow?: number };
}

/** Tensors of one softmax. `x === y` runs in place (then the X and Y layouts must be identical). */
export interface SoftmaxTensors {
  x: GpuTensor;
  y: GpuTensor;
  mask?: GpuTensor;
}

interface Resolved {
  rows: number;
  cols: number;
  scale: number;
  log: boolean;
  ldx: number;
  ldy: number;
  xOffset: number;
  yOffset: number;
  hasMask: boolean;
  mLd: number;
  mOffset: number;
  mGroup: number;
}

function resolve(s: SoftmaxShape): Resolved {
  return {
    rows: s.rows,
    cols: s.cols,
    scale: s.scale ?? 1,
    log: s.log ?? false,
    ldx: s.ldx ?? s.cols,
    ldy: s.ldy ?? s.cols,
    xOffset: s.xOffset ?? 0,
    yOffset: s.yOffset ?? 0,
    hasMask: s.mask !== undefined,
    mLd: s.mask?.ld ?? s.cols,
    mOffset: s.mask?.offset ?? 0,
    mGroup: s.mask?.rowsPerMaskRow ?? 1,
  };
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/**
 * CPU reference for {@link prepareSoftmax}: returns a float64 copy of `y` with the rows written.
 * Uses the same finite clamp as the shader (logits below MASK_NEG are raised to it).
 */
export function softmaxRef(
  shape: SoftmaxShape,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  mask?: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const out = Float64Array.from(y);
  const v = new Float64Array(r.cols);
  for (let row = 0; row < r.rows; row++) {
    let m = -Infinity;
    for (let c = 0; c < r.cols; c++) {
      let t = r.scale * x[r.xOffset + row * r.ldx + c];
      if (r.hasMask) t += mask![r.mOffset + Math.floor(row / r.mGroup) * r.mLd + c];
      v[c] = Math.max(t, MASK_NEG);
      m = Math.max(m, v[c]);
    }
    let s = 0;
    for (let c = 0; c < r.cols; c++) s += Math.exp(v[c] - m);
    for (let c = 0; c < r.cols; c++) {
      out[r.yOffset + row * r.ldy + c] = r.log ? v[c] - m - Math.log(s) : Math.exp(v[c] - m) / s;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/**
 * Compiles (cached) and binds one row softmax; returns the dispatch to record every step. The uniform is
 * written once here and owned by `arena`.
 * @throws TypeError when a tensor is too small for the layout, or an in-place layout differs.
 */
export async function prepareSoftmax(
  gpu: Gpu,
  arena: BufferArena,
  shape: SoftmaxShape,
  t: SoftmaxTensors,
): Promise<Dispatch> {
  const r = resolve(shape);
  checkDims("softmax", { rows: r.rows, cols: r.cols });
  checkDims("softmax", { ldx: r.ldx, ldy: r.ldy, mLd: r.mLd, mGroup: r.mGroup }, true);
  const inPlace = checkRowsInOut("softmax", r, t.x, t.y);
  if (r.hasMask !== (t.mask !== undefined)) {
    throw new TypeError("softmax: shape.mask and tensors.mask must be given together");
  }
  if (t.mask) {
    checkDtype("softmax", "mask", t.mask, "f32");
    checkExtent("softmax", "mask", t.mask, r.mOffset + Math.floor((r.rows - 1) / r.mGroup) * r.mLd + r.cols);
  }
  const wg = rowWorkgroupSize(r.cols);
  const kernel = await getKernel(gpu, {
    file: "kernels/softmax.wgsl",
    source,
    bindings: ["read", "rw", "read", "uniform"],
    constants: { WG: wg, HAS_MASK: r.hasMask ? 1 : 0, LOG: r.log ? 1 : 0, X_IS_Y: inPlace ? 1 : 0 },
  });
  const uniform = arena.uniform(
    packUniform([
      [r.rows, "u32"],
      [r.cols, "u32"],
      [r.ldx, "u32"],
      [r.ldy, "u32"],
      [r.xOffset, "u32"],
      [r.yOffset, "u32"],
      [r.mOffset, "u32"],
      [r.mLd, "u32"],
      [r.mGroup, "u32"],
      [r.scale, "f32"],
    ]),
    "softmax-params",
  );
  const dummy = arena.dummy();
  const bg = bindGroup(gpu, kernel, [inPlace ? dummy : t.x, t.y, t.mask ?? dummy, uniform]);
  return { kernel, bindGroup: bg, workgroups: grid1d(r.rows, gpu.limits.maxComputeWorkgroupsPerDimension) };
}

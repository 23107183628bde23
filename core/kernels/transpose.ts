/**
 * Batched 2-D transpose: OUT[b][c][r] = IN[b][r][c], with row strides, offsets and batch strides (so a
 * head-major [B, H, N, d] view or a window of a wider matrix can be transposed in one call).
 * Kernel: shaders/kernels/transpose.wgsl.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "./common.ts";
import source from "../../shaders/kernels/transpose.wgsl" with { type: "text" };

/** A batch of [rows, cols] matrices transposed into [cols, rows]; strides and offsets in elements. */
export interface TransposeShape {
  rows: number;
  cols: number;
  batch?: number;
  /** Row stride of IN (default cols). */
  ldIn?: number;
  /** Row stride of OUT (default rows). */
  ldOut?: number;
  inOffset?: number;
  outOffset?: number;
  /** Batch strides (default: dense, rows·ldIn and cols·ldOut). */
  inBatchStride?: number;
  outBatchStride?: number;
}

/** Tensors of a transpose (must be different buffers). */
export interface TransposeTensors {
  input: GpuTensor;
  out: GpuTensor;
}

function resolve(s: TransposeShape) {
  const ldIn = s.ldIn ?? s.cols;
  const ldOut = s.ldOut ?? s.rows;
  return {
    rows: s.rows,
    cols: s.cols,
    batch: s.batch ?? 1,
    ldIn,
    ldOut,
    inOffset: s.inOffset ?? 0,
    outOffset: s.outOffset ?? 0,
    inBatchStride: s.inBatchStride ?? s.rows * ldIn,
    outBatchStride: s.outBatchStride ?? s.cols * ldOut,
  };
}

/** CPU reference for {@link prepareTranspose}: a float64 copy of `out` with the transposes written. */
export function transposeRef(
  shape: TransposeShape,
  input: ArrayLike<number>,
  out: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const res = Float64Array.from(out);
  for (let b = 0; b < r.batch; b++) {
    for (let i = 0; i < r.rows; i++) {
      for (let c = 0; c < r.cols; c++) {
        res[r.outOffset + b * r.outBatchStride + c * r.ldOut + i] =
          input[r.inOffset + b * r.inBatchStride + i * r.ldIn + c];
      }
    }
  }
  return res;
}

/**
 * Compiles (cached) and binds one batched transpose; returns the dispatch to record every step.
 * @throws TypeError when a tensor is too small for its layout or input and out are the same tensor.
 */
export async function prepareTranspose(
  gpu: Gpu,
  arena: BufferArena,
  shape: TransposeShape,
  t: TransposeTensors,
): Promise<Dispatch> {
  const r = resolve(shape);
  checkDims("transpose", { rows: r.rows, cols: r.cols, batch: r.batch });
  checkDims("transpose", {
    ldIn: r.ldIn,
    ldOut: r.ldOut,
    inOffset: r.inOffset,
    outOffset: r.outOffset,
    inBatchStride: r.inBatchStride,
    outBatchStride: r.outBatchStride,
  }, true);
  if (t.input === t.out) throw new TypeError("transpose: input and out must be different tensors");
  checkDtype("transpose", "input", t.input, "f32");
  checkDtype("transpose", "out", t.out, "f32");
  checkExtent(
    "transpose",
    "input",
    t.input,
    r.inOffset + (r.batch - 1) * r.inBatchStride + (r.rows - 1) * r.ldIn + r.cols,
  );
  checkExtent(
    "transpose",
    "out",
    t.out,
    r.outOffset + (r.batch - 1) * r.outBatchStride + (r.cols - 1) * r.ldOut + r.rows,
  );
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const tilesX = Math.ceil(r.cols / 32), tilesY = Math.ceil(r.rows / 32);
  if (tilesX > maxDim || tilesY > maxDim) {
    throw new RangeError(`transpose: ${r.rows}×${r.cols} needs more than ${maxDim} tiles per dimension`);
  }
  const bPerZ = Math.min(r.batch, Math.floor(maxDim / tilesY));
  const zs = Math.ceil(r.batch / bPerZ);
  if (zs > maxDim) throw new RangeError(`transpose: batch ${r.batch} too large`);
  const kernel = await getKernel(gpu, {
    file: "kernels/transpose.wgsl",
    source,
    bindings: ["read", "rw", "uniform"],
  });
  const uniform = arena.uniform(
    packUniform([
      [r.rows, "u32"],
      [r.cols, "u32"],
      [r.ldIn, "u32"],
      [r.ldOut, "u32"],
      [r.inOffset, "u32"],
      [r.outOffset, "u32"],
      [r.inBatchStride, "u32"],
      [r.outBatchStride, "u32"],
      [r.batch, "u32"],
      [tilesY, "u32"],
      [bPerZ, "u32"],
    ]),
    "transpose-params",
  );
  const bg = bindGroup(gpu, kernel, [t.input, t.out, uniform]);
  return { kernel, bindGroup: bg, workgroups: [tilesX, tilesY * bPerZ, zs] };
}

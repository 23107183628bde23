/**
 * Row reductions (sum, max, logsumexp) and deterministic column sums (webgpu-notes.md §3.2: the bias
 * gradient db is the column sum of dY, written as a fixed-order two-pass reduction without atomics).
 * Kernel: shaders/kernels/reduce.wgsl (with shaders/include/wg_reduce.wgsl).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent, MASK_NEG, rowWorkgroupSize } from "./common.ts";
import source from "../../shaders/kernels/reduce.wgsl" with { type: "text" };

/** A row reduction. */
export type RowReduceOp = "sum" | "max" | "logsumexp";

/** Layout of a reduction over a [rows, cols] matrix X (row stride ldx) into Y (stride incy). */
export interface ReduceShape {
  rows: number;
  cols: number;
  /** Row stride of X (default cols). */
  ldx?: number;
  xOffset?: number;
  /** Stride between consecutive outputs in Y (default 1). */
  incy?: number;
  yOffset?: number;
  /** Multiplies the result (e.g. 1/cols for a mean). Default 1. */
  alpha?: number;
  /** Y += result instead of Y = result. */
  accumulate?: boolean;
  /**
   * Column sums only: also write every result at yOffset2 + c·incy (same alpha and accumulate), e.g. two
   * bias gradients equal to one column sum. Its outputs must not overlap those at yOffset.
   */
  yOffset2?: number;
}

/** Tensors of a reduction: X is read, Y receives one value per row (or per column). */
export interface ReduceTensors {
  x: GpuTensor;
  y: GpuTensor;
}

function resolve(s: ReduceShape) {
  return {
    rows: s.rows,
    cols: s.cols,
    ldx: s.ldx ?? s.cols,
    xOffset: s.xOffset ?? 0,
    incy: s.incy ?? 1,
    yOffset: s.yOffset ?? 0,
    alpha: s.alpha ?? 1,
    accumulate: s.accumulate ?? false,
    yOffset2: s.yOffset2,
  };
}

// ---------------------------------------------------------------------------------------------------
// CPU references (float64)

/** CPU reference for {@link prepareRowReduce}: a float64 copy of `y` with one result per row written. */
export function rowReduceRef(
  op: RowReduceOp,
  shape: ReduceShape,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const out = Float64Array.from(y);
  for (let row = 0; row < r.rows; row++) {
    const base = r.xOffset + row * r.ldx;
    let v: number;
    if (op === "sum") {
      v = 0;
      for (let c = 0; c < r.cols; c++) v += x[base + c];
    } else {
      let m = -Infinity;
      for (let c = 0; c < r.cols; c++) m = Math.max(m, Math.max(x[base + c], MASK_NEG));
      v = m;
      if (op === "logsumexp") {
        let s = 0;
        for (let c = 0; c < r.cols; c++) s += Math.exp(Math.max(x[base + c], MASK_NEG) - m);
        v = m + Math.log(s);
      }
    }
    const i = r.yOffset + row * r.incy;
    out[i] = r.alpha * v + (r.accumulate ? out[i] : 0);
  }
  return out;
}

/** CPU reference for {@link prepareColSum}: a float64 copy of `y` with one sum per column written. */
export function colSumRef(shape: ReduceShape, x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const r = resolve(shape);
  const out = Float64Array.from(y);
  for (let c = 0; c < r.cols; c++) {
    let s = 0;
    for (let row = 0; row < r.rows; row++) s += x[r.xOffset + row * r.ldx + c];
    for (const off of r.yOffset2 === undefined ? [r.yOffset] : [r.yOffset, r.yOffset2]) {
      const i = off + c * r.incy;
      out[i] = r.alpha * s + (r.accumulate ? out[i] : 0);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

function uniform(arena: BufferArena, r: ReturnType<typeof resolve>, chunks: number): GPUBuffer {
  return arena.uniform(
    packUniform([
      [r.rows, "u32"],
      [r.cols, "u32"],
      [r.ldx, "u32"],
      [r.xOffset, "u32"],
      [r.yOffset, "u32"],
      [r.incy, "u32"],
      [chunks, "u32"],
      [r.alpha, "f32"],
      [r.yOffset2 ?? 0, "u32"],
    ]),
    "reduce-params",
  );
}

function checkCommon(kernel: string, r: ReturnType<typeof resolve>, t: ReduceTensors, outputs: number) {
  checkDims(kernel, { rows: r.rows, cols: r.cols });
  checkDims(kernel, { ldx: r.ldx, incy: r.incy, xOffset: r.xOffset, yOffset: r.yOffset }, true);
  checkDtype(kernel, "x", t.x, "f32");
  checkDtype(kernel, "y", t.y, "f32");
  if (t.x === t.y) throw new TypeError(`${kernel}: x and y must be different tensors`);
  checkExtent(kernel, "x", t.x, r.xOffset + (r.rows - 1) * r.ldx + r.cols);
  checkExtent(kernel, "y", t.y, r.yOffset + (outputs - 1) * r.incy + 1);
  if (r.yOffset2 !== undefined) {
    if (kernel !== "colSum") throw new TypeError(`${kernel}: yOffset2 is for colSum only`);
    checkDims(kernel, { yOffset2: r.yOffset2 }, true);
    checkExtent(kernel, "y", t.y, r.yOffset2 + (outputs - 1) * r.incy + 1);
    const span = (outputs - 1) * r.incy + 1;
    if (Math.abs(r.yOffset2 - r.yOffset) < span) {
      throw new RangeError(
        `${kernel}: yOffset2 ${r.yOffset2} overlaps the ${outputs} outputs at yOffset ${r.yOffset} ` +
          `(stride ${r.incy})`,
      );
    }
  }
}

/**
 * Prepares Y[r] = alpha · op(X[r, :]) for every row (op: sum, max, or logsumexp computed as
 * max + log Σ exp(x − max)); one workgroup per row. Values are clamped below at MASK_NEG for max and
 * logsumexp so masked logits stay finite.
 */
export async function prepareRowReduce(
  gpu: Gpu,
  arena: BufferArena,
  op: RowReduceOp,
  shape: ReduceShape,
  t: ReduceTensors,
): Promise<Dispatch> {
  const r = resolve(shape);
  checkCommon("rowReduce", r, t, r.rows);
  const kernel = await getKernel(gpu, {
    file: "kernels/reduce.wgsl",
    source,
    entryPoint: "rows",
    bindings: ["read", "rw", "rw", "uniform"],
    constants: {
      WG: rowWorkgroupSize(r.cols),
      OP: op === "sum" ? 0 : op === "max" ? 1 : 2,
      ACCUMULATE: r.accumulate ? 1 : 0,
    },
  });
  const bg = bindGroup(gpu, kernel, [
    t.x,
    t.y,
    arena.tensor([1], "f32", "reduce-no-partials"),
    uniform(arena, r, 1),
  ]);
  return { kernel, bindGroup: bg, workgroups: grid1d(r.rows, gpu.limits.maxComputeWorkgroupsPerDimension) };
}

/** Rows summed per workgroup in the first pass of {@link prepareColSum}. */
export const COLSUM_CHUNK = 256;

/**
 * Prepares Y[c] = alpha · Σ_r X[r, c] for every column (also at `yOffset2` when given): deterministic
 * (fixed order, no atomics).
 * Returns one dispatch when rows ≤ {@link COLSUM_CHUNK}, otherwise two (record both, in order). The
 * partial-sum buffer ([⌈rows/256⌉, cols] f32) is allocated here from `arena`.
 */
export async function prepareColSum(
  gpu: Gpu,
  arena: BufferArena,
  shape: ReduceShape,
  t: ReduceTensors,
): Promise<Dispatch[]> {
  const r = resolve(shape);
  checkCommon("colSum", r, t, r.cols);
  const chunks = Math.ceil(r.rows / COLSUM_CHUNK);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (chunks > maxDim || Math.ceil(r.cols / 64) > maxDim) {
    throw new RangeError(`colSum: ${r.rows}×${r.cols} exceeds the grid (${maxDim} workgroups per dimension)`);
  }
  const final = chunks === 1;
  const common = {
    ACCUMULATE: r.accumulate ? 1 : 0,
    CHUNK: COLSUM_CHUNK,
    TWO_OUT: r.yOffset2 !== undefined ? 1 : 0,
  };
  const bindings: Array<"read" | "rw" | "uniform"> = ["read", "rw", "rw", "uniform"];
  const partialKernel = await getKernel(gpu, {
    file: "kernels/reduce.wgsl",
    source,
    entryPoint: "col_partial",
    bindings,
    constants: { ...common, FINAL: final ? 1 : 0 },
  });
  const partials = arena.tensor([final ? 1 : chunks * r.cols], "f32", "colsum-partials");
  const u = uniform(arena, r, chunks);
  const first: Dispatch = {
    kernel: partialKernel,
    bindGroup: bindGroup(gpu, partialKernel, [t.x, t.y, partials, u]),
    workgroups: [Math.ceil(r.cols / 64), chunks, 1],
  };
  if (final) return [first];
  const finishKernel = await getKernel(gpu, {
    file: "kernels/reduce.wgsl",
    source,
    entryPoint: "col_finish",
    bindings,
    constants: common,
  });
  return [first, {
    kernel: finishKernel,
    bindGroup: bindGroup(gpu, finishKernel, [t.x, t.y, partials, u]),
    workgroups: grid1d(Math.ceil(r.cols / 64), maxDim),
  }];
}

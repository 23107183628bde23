/**
 * Dropout2d on per-patch rows (hp-method.md §2.6): whole channels of an image are zeroed with probability
 * p and the kept ones scaled by 1/(1−p). Masks come from the stateless hash of core/rng.ts, seeded once per
 * step with a u32 from the trainer's Rng, so the CPU reference reproduces them exactly and nothing is
 * uploaded. Kernel: shaders/kernels/dropout.wgsl (with shaders/include/hash.wgsl).
 *
 * Layout: rows r < rows of C channels, image b = ⌊r / P⌋ (row = b·P + y·S + x). Channel c of image b is kept
 * ⇔ hashUniform(seed, b·C + c) ≥ p. A row set of one patch per image (the pools) uses P = 1.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "./common.ts";
import { hashUniform } from "../rng.ts";
import source from "../../shaders/kernels/dropout.wgsl" with { type: "text" };

/** Dropout probability of every Dropout2d in HP. */
export const DROPOUT_P = 0.1;

/** Shape of one Dropout2d application. */
export interface DropoutShape {
  rows: number;
  /** Channels per row. */
  C: number;
  /** Rows per image (P = S²); 1 when every row is its own image. */
  P: number;
  /** Drop probability (default {@link DROPOUT_P}). */
  p?: number;
}

/** The f32 keep scale the kernel uses: 1/(1−p) rounded to f32 (as PyTorch scales by a float). */
export function keepScale(p: number): number {
  return Math.fround(1 / (1 - p));
}

// ---------------------------------------------------------------------------------------------------
// CPU reference

/** True when channel `c` of image `b` survives the draw `seed` (same rule as the shader). */
export function dropoutKeep(seed: number, b: number, C: number, c: number, p = DROPOUT_P): boolean {
  return hashUniform(seed, b * C + c) >= Math.fround(p);
}

/** CPU reference: returns dropout2d(x) as float64 (x is [rows, C], rows grouped P per image). */
export function dropout2dRef(shape: DropoutShape, seed: number, x: ArrayLike<number>): Float64Array {
  const { rows, C, P } = shape;
  const p = shape.p ?? DROPOUT_P;
  const k = keepScale(p);
  const out = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const b = Math.floor(r / P);
    for (let c = 0; c < C; c++) {
      out[r * C + c] = dropoutKeep(seed, b, C, c, p) ? x[r * C + c] * k : 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/** One prepared Dropout2d: record `dispatch` each step after `setSeed` (one draw = one instance). */
export interface Dropout2d {
  readonly dispatch: Dispatch;
  readonly shape: Readonly<Required<DropoutShape>>;
  /** The seed of the current draw (written to the GPU by {@link setSeed}). */
  readonly seed: number;
  /**
   * Writes this step's seed (queue.writeBuffer: it lands before the next submit, so one instance serves
   * one draw per submit; record the dispatch again, e.g. in a backward recompute, within the same step).
   */
  setSeed(seed: number): void;
}

/**
 * Compiles (cached) and binds one Dropout2d: y = drop(x), in place when `x === y`.
 * @throws TypeError when a tensor is smaller than rows·C or a dimension is not a positive integer.
 */
export async function prepareDropout2d(
  gpu: Gpu,
  arena: BufferArena,
  shape: DropoutShape,
  x: GpuTensor,
  y: GpuTensor,
): Promise<Dropout2d> {
  const p = shape.p ?? DROPOUT_P;
  const s = { rows: shape.rows, C: shape.C, P: shape.P, p };
  checkDims("dropout2d", { rows: s.rows, C: s.C, P: s.P });
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout2d: p must be in [0, 1), got ${p}`);
  checkDtype("dropout2d", "x", x, "f32");
  checkDtype("dropout2d", "y", y, "f32");
  checkExtent("dropout2d", "x", x, s.rows * s.C);
  checkExtent("dropout2d", "y", y, s.rows * s.C);
  const inPlace = x === y;
  const kernel = await getKernel(gpu, {
    file: "kernels/dropout.wgsl",
    source,
    bindings: ["read", "rw", "uniform"],
    constants: { X_IS_Y: inPlace ? 1 : 0 },
  });
  const pack = (seed: number) =>
    packUniform([
      [s.rows, "u32"],
      [s.C, "u32"],
      [s.P, "u32"],
      [seed >>> 0, "u32"],
      [p, "f32"],
      [keepScale(p), "f32"],
    ]);
  const uniform = arena.uniform(pack(0), "dropout-params");
  const dispatch: Dispatch = {
    kernel,
    bindGroup: bindGroup(gpu, kernel, [inPlace ? arena.dummy() : x, y, uniform]),
    workgroups: grid1d(Math.ceil((s.rows * s.C) / 256), gpu.limits.maxComputeWorkgroupsPerDimension),
  };
  let current = 0;
  return {
    dispatch,
    shape: s,
    get seed() {
      return current;
    },
    setSeed(seed: number) {
      current = seed >>> 0;
      gpu.device.queue.writeBuffer(uniform, 0, pack(current));
    },
  };
}

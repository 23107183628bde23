/**
 * The non-GEMM parts of the head backwards (hp-method.md §2.2, §5.9): the ReLU mask and deterministic
 * column sums (bias gradients) written at an offset of a flat gradient buffer, optionally into two
 * places at once (db1 = db3 = Σ_rows ∂L/∂s) and optionally accumulating (the clean and augmented forwards
 * both send gradient into θ), and weight gradients dW = Aᵀ·B over all N rows with split-K: with K = N
 * (50,176 at COCO) and only D×D_f outputs, one GEMM would run on ~48 workgroups, so the rows are split into
 * S slices computed as one batched GEMM and summed in a fixed order. Kernel: shaders/head_grad.wgsl.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "../kernels/_common.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { elementGrid } from "./_gpu.ts";
import source from "../../shaders/head_grad.wgsl" with { type: "text" };

/** Rows summed by one workgroup of the first column-sum pass (ROWS_PER_CHUNK in the shader). */
const ROWS_PER_CHUNK = 256;

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/** Column sums of x [rows, C]. */
export function colsumRef(rows: number, C: number, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) out[c] += x[r * C + c];
  return out;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/** Where a column sum goes: `out[offset + c]` (and `out[offset2 + c]` when given). */
export interface ColsumTarget {
  out: GpuTensor;
  offset: number;
  offset2?: number;
  accumulate?: boolean;
}

/**
 * Column sums of x [rows, C] into a target; two dispatches (partial sums per 256-row chunk, then a fixed
 * order sum of the chunks), so the result is bitwise repeatable. Allocates its [chunks, C] scratch.
 */
export async function prepareColsum(
  gpu: Gpu,
  arena: BufferArena,
  rows: number,
  C: number,
  x: GpuTensor,
  target: ColsumTarget,
): Promise<Dispatch[]> {
  checkDims("colsum", { rows, C });
  checkDims("colsum", { offset: target.offset, offset2: target.offset2 ?? 0 }, true);
  checkDtype("colsum", "x", x, "f32");
  checkDtype("colsum", "out", target.out, "f32");
  checkExtent("colsum", "x", x, rows * C);
  checkExtent("colsum", "out", target.out, Math.max(target.offset, target.offset2 ?? 0) + C);
  const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
  const part = arena.tensor([chunks, C], "f32", "colsum-partials");
  const uniform = arena.uniform(
    packUniform([
      [rows, "u32"],
      [C, "u32"],
      [chunks, "u32"],
      [target.offset, "u32"],
      [target.offset2 ?? 0, "u32"],
    ]),
    "colsum-params",
  );
  const k1 = await getKernel(gpu, {
    file: "head_grad.wgsl",
    source,
    entryPoint: "colsum_partial",
    bindings: ["read", "rw", "uniform"],
  });
  const k2 = await getKernel(gpu, {
    file: "head_grad.wgsl",
    source,
    entryPoint: "colsum_final",
    bindings: ["read", "rw", "uniform"],
    constants: { ACCUMULATE: target.accumulate ? 1 : 0, TWO_OUT: target.offset2 !== undefined ? 1 : 0 },
  });
  if (chunks > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new RangeError(`colsum: ${rows} rows too many`);
  }
  return [
    {
      kernel: k1,
      bindGroup: bindGroup(gpu, k1, [x, part, uniform]),
      workgroups: [Math.ceil(C / 64), chunks, 1],
    },
    {
      kernel: k2,
      bindGroup: bindGroup(gpu, k2, [part, target.out, uniform]),
      workgroups: [Math.ceil(C / 64), 1, 1],
    },
  ];
}

/** In place g[i] = h[i] > 0 ? g[i] : 0 for i < n (ReLU backward given the ReLU output h). */
export async function prepareReluBackward(
  gpu: Gpu,
  arena: BufferArena,
  n: number,
  h: GpuTensor,
  g: GpuTensor,
): Promise<Dispatch> {
  checkDims("relu-backward", { n });
  checkExtent("relu-backward", "h", h, n);
  checkExtent("relu-backward", "g", g, n);
  const kernel = await getKernel(gpu, {
    file: "head_grad.wgsl",
    source,
    entryPoint: "relu_backward",
    bindings: ["read", "rw", "uniform"],
  });
  const uniform = arena.uniform(
    packUniform([[n, "u32"], [0, "u32"], [0, "u32"], [0, "u32"], [0, "u32"]]),
    "relu-backward-params",
  );
  return { kernel, bindGroup: bindGroup(gpu, kernel, [h, g, uniform]), workgroups: elementGrid(gpu, n) };
}

/** Shape of a weight gradient out[M, N] (+)= Aᵀ·B with A [rows, M] and B [rows, N], both dense. */
export interface WeightGradShape {
  M: number;
  N: number;
  rows: number;
  /** Where out[0, 0] is (elements); out is dense [M, N] from there. */
  outOffset: number;
  accumulate: boolean;
  /** Row slices (split-K); default {@link chooseSplits}. */
  splits?: number;
}

/**
 * Row slices for a weight gradient: enough 64×64-tile workgroups (≈512) to fill a large GPU, at least 512
 * rows per slice, at most 32 slices; 1 on a software adapter (a few threads are busy with one GEMM).
 */
export function chooseSplits(gpu: Gpu, M: number, N: number, rows: number): number {
  if (gpu.isSoftware) return 1;
  const tiles = Math.ceil(M / 64) * Math.ceil(N / 64);
  return Math.max(1, Math.min(32, Math.floor(512 / tiles), Math.floor(rows / 512)));
}

/**
 * Prepares out[M, N] (+)= Aᵀ·B (a: [rows, M], b: [rows, N], out dense at `outOffset`) as one GEMM, or as
 * a batched split-K GEMM into a [S, M, N] scratch (remainder rows added to slice 0) plus a fixed-order sum.
 */
export async function prepareWeightGrad(
  gpu: Gpu,
  arena: BufferArena,
  s: WeightGradShape,
  t: { a: GpuTensor; b: GpuTensor; out: GpuTensor },
): Promise<Dispatch[]> {
  const { M, N, rows } = s;
  checkDims("weight-grad", { M, N, rows });
  const S = Math.max(1, Math.min(s.splits ?? chooseSplits(gpu, M, N, rows), rows));
  if (S === 1) {
    return [
      await prepareGemm(gpu, arena, {
        M,
        N,
        K: rows,
        transA: true,
        lda: M,
        cOffset: s.outOffset,
        ldc: N,
        accumulate: s.accumulate,
      }, { a: t.a, b: t.b, c: t.out }),
    ];
  }
  checkExtent("weight-grad", "out", t.out, s.outOffset + M * N);
  const chunk = Math.floor(rows / S);
  const rem = rows - S * chunk;
  const part = arena.tensor([S, M, N], "f32", "weight-grad-slices");
  const ds: Dispatch[] = [
    await prepareGemm(gpu, arena, {
      M,
      N,
      K: chunk,
      batch: S,
      transA: true,
      lda: M,
      aBatchStride: chunk * M,
      bBatchStride: chunk * N,
      cBatchStride: M * N,
    }, { a: t.a, b: t.b, c: part }),
  ];
  if (rem > 0) {
    ds.push(
      await prepareGemm(gpu, arena, {
        M,
        N,
        K: rem,
        transA: true,
        lda: M,
        aOffset: S * chunk * M,
        bOffset: S * chunk * N,
        accumulate: true,
      }, { a: t.a, b: t.b, c: part }),
    );
  }
  const kernel = await getKernel(gpu, {
    file: "head_grad.wgsl",
    source,
    entryPoint: "sum_slices",
    bindings: ["read", "rw", "uniform"],
    constants: { ACCUMULATE: s.accumulate ? 1 : 0 },
  });
  const uniform = arena.uniform(
    packUniform([[M * N, "u32"], [S, "u32"], [0, "u32"], [s.outOffset, "u32"], [0, "u32"]]),
    "weight-grad-params",
  );
  ds.push({
    kernel,
    bindGroup: bindGroup(gpu, kernel, [part, t.out, uniform]),
    workgroups: elementGrid(gpu, M * N),
  });
  return ds;
}

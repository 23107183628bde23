/**
 * Weight gradients of the heads (hp-method.md §2.2, §5.9): dW = Aᵀ·B over all N rows with split-K: with
 * K = N (50,176 at COCO) and only D×D_f outputs, one GEMM would run on ~48 workgroups, so the rows are
 * split into S slices computed as one batched GEMM and summed in a fixed order (the library's
 * deterministic column sum over the [S, M·N] slices). No kernel of its own: core/kernels gemm and reduce.
 * (Bias gradients are `prepareColSum` too, called by heads.ts / projection.ts; the ReLU mask is the
 * elementwise "reluGrad".)
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import { checkDims, checkExtent } from "./common.ts";
import { prepareGemm } from "./gemm.ts";
import { prepareColSum } from "./reduce.ts";

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
  // out (+)= Σ_s part[s, :]: column sums of the [S, M·N] slices, in a fixed order.
  ds.push(
    ...await prepareColSum(gpu, arena, {
      rows: S,
      cols: M * N,
      yOffset: s.outOffset,
      accumulate: s.accumulate,
    }, {
      x: part,
      y: t.out,
    }),
  );
  return ds;
}

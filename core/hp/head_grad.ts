/**
 * The non-GEMM parts of the head backwards (hp-method.md §2.2, §5.9): the ReLU mask, and weight gradients
 * dW = Aᵀ·B over all N rows with split-K: with K = N (50,176 at COCO) and only D×D_f outputs, one GEMM
 * would run on ~48 workgroups, so the rows are split into S slices computed as one batched GEMM and
 * summed in a fixed order. Kernel: shaders/head_grad.wgsl. Bias gradients are the library's deterministic
 * column sums (core/kernels/reduce.ts `prepareColSum`, with `yOffset2` for db1 = db3 and `accumulate`
 * when the clean and augmented forwards both send gradient).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import { checkDims, checkExtent } from "../kernels/_common.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { elementGrid } from "./_gpu.ts";
import source from "../../shaders/head_grad.wgsl" with { type: "text" };

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
    packUniform([[n, "u32"], [0, "u32"], [0, "u32"], [0, "u32"]]),
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
    packUniform([[M * N, "u32"], [S, "u32"], [0, "u32"], [s.outOffset, "u32"]]),
    "weight-grad-params",
  );
  ds.push({
    kernel,
    bindGroup: bindGroup(gpu, kernel, [part, t.out, uniform]),
    workgroups: elementGrid(gpu, M * N),
  });
  return ds;
}

/**
 * Batched transpose (core/kernels/transpose.ts) against the reference: awkward sizes, strides and
 * offsets, broadcast batches, and a batch folded across grid dimensions.
 * @module
 */
import { prepareTranspose, transposeRef, type TransposeShape } from "../../core/kernels/transpose.ts";
import { assertAllClose, gpuTest, type GpuTestContext, randnF32 } from "../_util.ts";
import { runAndRead, smallGrid } from "./_run.ts";
import assert from "node:assert/strict";

async function check({ gpu: realGpu, arena }: GpuTestContext, s: TransposeShape, seed = 1, maxGrid = 0) {
  const gpu = maxGrid ? smallGrid(realGpu, maxGrid) : realGpu;
  const b = s.batch ?? 1;
  const ldIn = s.ldIn ?? s.cols, ldOut = s.ldOut ?? s.rows;
  const inLen = (s.inOffset ?? 0) + (b - 1) * (s.inBatchStride ?? s.rows * ldIn) + (s.rows - 1) * ldIn +
    s.cols;
  const outLen = (s.outOffset ?? 0) + (b - 1) * (s.outBatchStride ?? s.cols * ldOut) + (s.cols - 1) * ldOut +
    s.rows;
  const x = randnF32(inLen, seed);
  const o0 = randnF32(outLen, seed + 1);
  const tin = arena.upload(x, [x.length], "f32", "in");
  const tout = arena.upload(o0, [o0.length], "f32", "out");
  const got = await runAndRead(gpu, await prepareTranspose(gpu, arena, s, { input: tin, out: tout }), tout);
  // A transpose moves bits: exact.
  assertAllClose(got, transposeRef(s, x, o0), { rtol: 0, atol: 0, label: `transpose ${JSON.stringify(s)}` });
}

gpuTest("transpose() awkward sizes and batches", async (ctx) => {
  for (const [rows, cols] of [[1, 1], [3, 17], [17, 3], [197, 33], [785, 5], [1, 1601]]) {
    await check(ctx, { rows, cols }, rows + cols);
  }
  await check(ctx, { rows: 37, cols: 45, batch: 3 });
});

gpuTest("transpose() strides, offsets, head-major windows", async (ctx) => {
  // q of a [N, 3·C] qkv matrix, head h (C = 4 heads × 8): a [N, 8] window with row stride 96.
  await check(ctx, { rows: 33, cols: 8, ldIn: 96, inOffset: 8, ldOut: 40, outOffset: 3 });
  await check(ctx, { rows: 20, cols: 9, batch: 4, inBatchStride: 200, outBatchStride: 190 });
});

gpuTest("transpose() folds a batch larger than one grid dimension", async (ctx) => {
  // With a limit of 7 workgroups per dimension (standing in for 65,535), 3 row tiles × 11 batches
  // cannot fit along y: 2 batches per z slab, 6 slabs.
  await check(ctx, { rows: 70, cols: 40, batch: 11 }, 5, 7);
  await check(ctx, { rows: 3, cols: 2, batch: 20 }, 6, 7);
});

gpuTest("transpose() rejects aliasing and short tensors", async ({ gpu, arena }) => {
  const a = arena.tensor([12], "f32", "A");
  const b = arena.tensor([11], "f32", "B");
  await assert.rejects(
    () => prepareTranspose(gpu, arena, { rows: 3, cols: 4 }, { input: a, out: a }),
    /different/,
  );
  await assert.rejects(
    () => prepareTranspose(gpu, arena, { rows: 3, cols: 4 }, { input: a, out: b }),
    (e: Error) => e instanceof TypeError && /out "B" has 11 elements/.test(e.message),
  );
});

/**
 * Row reductions and column sums (core/kernels/reduce.ts) against float64 references at awkward sizes,
 * with strides, accumulate, masked (MASK_NEG) logits, both column-sum paths (one and several chunks),
 * a second output (yOffset2), and bitwise repeatability of the column sum.
 * @module
 */
import {
  colSumRef,
  prepareColSum,
  prepareRowReduce,
  type ReduceShape,
  type RowReduceOp,
  rowReduceRef,
} from "../../core/kernels/reduce.ts";
import { MASK_NEG } from "../../core/kernels/softmax.ts";
import { assertAllClose, AWKWARD_SIZES, gpuTest, type GpuTestContext, randnF32 } from "../_util.ts";
import { runAndRead, smallGrid } from "./_run.ts";
import assert from "node:assert/strict";

function lens(s: ReduceShape, outputs: number) {
  return {
    x: (s.xOffset ?? 0) + (s.rows - 1) * (s.ldx ?? s.cols) + s.cols,
    y: Math.max(s.yOffset ?? 0, s.yOffset2 ?? 0) + (outputs - 1) * (s.incy ?? 1) + 1,
  };
}

async function checkRows(
  { gpu: realGpu, arena }: GpuTestContext,
  op: RowReduceOp,
  s: ReduceShape,
  seed = 1,
  edit?: (x: Float32Array) => void,
  maxGrid = 0,
) {
  const gpu = maxGrid ? smallGrid(realGpu, maxGrid) : realGpu;
  const n = lens(s, s.rows);
  const x = randnF32(n.x, seed, 3);
  edit?.(x);
  const y0 = randnF32(n.y, seed + 1);
  const tx = arena.upload(x, [x.length], "f32", "X");
  const ty = arena.upload(y0, [y0.length], "f32", "Y");
  const got = await runAndRead(gpu, await prepareRowReduce(gpu, arena, op, s, { x: tx, y: ty }), ty);
  const want = rowReduceRef(op, s, x, y0);
  // Sums of O(1) values: error ~ log2(cols)·ε·Σ|x|; max is exact.
  const tol = op === "max" ? 0 : 1e-6 * Math.sqrt(s.cols) * 3 + 2e-6;
  assertAllClose(got, want, { rtol: tol, atol: tol, label: `${op} ${JSON.stringify(s)}` });
}

async function checkCols({ gpu, arena }: GpuTestContext, s: ReduceShape, seed = 1): Promise<Float32Array> {
  const n = lens(s, s.cols);
  const x = randnF32(n.x, seed);
  const y0 = randnF32(n.y, seed + 1);
  const tx = arena.upload(x, [x.length], "f32", "X");
  const ty = arena.upload(y0, [y0.length], "f32", "Y");
  const got = await runAndRead(gpu, await prepareColSum(gpu, arena, s, { x: tx, y: ty }), ty);
  const want = colSumRef(s, x, y0);
  const tol = 2e-6 * Math.sqrt(s.rows) + 1e-6;
  assertAllClose(got, want, { rtol: tol, atol: tol, label: `colSum ${JSON.stringify(s)}` });
  return got;
}

gpuTest("rowReduce() sum, max, logsumexp at awkward widths", async (ctx) => {
  for (const cols of AWKWARD_SIZES) {
    const rows = cols >= 785 ? 3 : 19;
    for (const op of ["sum", "max", "logsumexp"] as const) await checkRows(ctx, op, { rows, cols }, cols);
  }
});

gpuTest("rowReduce() strides, alpha (mean), accumulate, masked logits", async (ctx) => {
  await checkRows(ctx, "sum", { rows: 9, cols: 40, ldx: 45, xOffset: 3, incy: 2, yOffset: 1, alpha: 1 / 40 });
  await checkRows(ctx, "logsumexp", { rows: 9, cols: 70, accumulate: true, alpha: -1 });
  await checkRows(ctx, "max", { rows: 50, cols: 2 }, 4, undefined, 7); // 2-D grid (limit 7 per dimension)
  // Half the logits masked with MASK_NEG, and one row fully masked: stays finite.
  const maskHalf = (x: Float32Array) => {
    for (let i = 0; i < x.length; i += 2) x[i] = MASK_NEG;
    for (let i = 0; i < 33; i++) x[i] = MASK_NEG;
  };
  await checkRows(ctx, "logsumexp", { rows: 5, cols: 33 }, 8, maskHalf);
  await checkRows(ctx, "max", { rows: 5, cols: 33 }, 8, maskHalf);
});

gpuTest("colSum() single- and multi-chunk, strides, accumulate", async (ctx) => {
  for (const rows of [1, 3, 197]) await checkCols(ctx, { rows, cols: 17 }, rows);
  await checkCols(ctx, { rows: 785, cols: 3 });
  await checkCols(ctx, { rows: 1601, cols: 130, ldx: 131, xOffset: 1, incy: 2, yOffset: 1, alpha: 0.5 });
  await checkCols(ctx, { rows: 600, cols: 65, accumulate: true });
});

gpuTest("colSum() yOffset2 writes the same sums at a second place", async (ctx) => {
  for (const rows of [5, 600]) {
    const s: ReduceShape = { rows, cols: 21, yOffset: 2, yOffset2: 30, accumulate: true };
    await checkCols(ctx, s, rows);
  }
  await checkCols(ctx, { rows: 300, cols: 9, incy: 3, yOffset: 0, yOffset2: 27, alpha: -2 });
});

gpuTest("colSum() is bitwise repeatable", async (ctx) => {
  const a = await checkCols(ctx, { rows: 1000, cols: 70 }, 3);
  const b = await checkCols(ctx, { rows: 1000, cols: 70 }, 3);
  assert.deepEqual(a, b);
});

gpuTest("rowReduce() / colSum() reject bad layouts", async ({ gpu, arena }) => {
  const x = arena.tensor([30], "f32", "X");
  const y = arena.tensor([2], "f32", "Y");
  await assert.rejects(
    () => prepareRowReduce(gpu, arena, "sum", { rows: 3, cols: 10 }, { x, y }),
    (e: Error) => e instanceof TypeError && /y "Y" has 2 elements/.test(e.message),
  );
  await assert.rejects(() => prepareColSum(gpu, arena, { rows: 3, cols: 10 }, { x, y: x }), /different/);
  const y40 = arena.tensor([40], "f32", "Y40");
  await assert.rejects(
    () => prepareColSum(gpu, arena, { rows: 3, cols: 10, yOffset2: 5 }, { x, y: y40 }),
    (e: Error) => e instanceof RangeError && /overlaps/.test(e.message),
  );
  await assert.rejects(
    () => prepareRowReduce(gpu, arena, "sum", { rows: 3, cols: 10, yOffset2: 20 }, { x, y: y40 }),
    /colSum only/,
  );
});

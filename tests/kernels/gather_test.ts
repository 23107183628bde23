/**
 * Row gather / scatter by i32 index (core/kernels/gather.ts) against the reference: awkward widths,
 * repeated and out-of-range (padding) indices for gather, permutations for scatter, accumulate, strides.
 * @module
 */
import {
  gatherRowsRef,
  prepareGatherRows,
  prepareScatterRows,
  type RowIndexShape,
  scatterRowsRef,
} from "../../core/kernels/gather.ts";
import { assertAllClose, AWKWARD_SIZES, gpuTest, type GpuTestContext, randnF32, rng } from "../_util.ts";
import { runAndRead, smallGrid } from "./_run.ts";
import assert from "node:assert/strict";

async function check(
  { gpu: realGpu, arena }: GpuTestContext,
  mode: "gather" | "scatter",
  s: RowIndexShape,
  idx: Int32Array,
  seed = 1,
  maxGrid = 0,
) {
  const gpu = maxGrid ? smallGrid(realGpu, maxGrid) : realGpu;
  const lds = s.lds ?? s.cols, ldo = s.ldo ?? s.cols;
  const srcRows = mode === "gather" ? s.indexedRows : s.n;
  const outRows = mode === "gather" ? s.n : s.indexedRows;
  const src = randnF32((s.srcOffset ?? 0) + (srcRows - 1) * lds + s.cols, seed);
  const out0 = randnF32((s.outOffset ?? 0) + (outRows - 1) * ldo + s.cols, seed + 1);
  const ts = arena.upload(src, [src.length], "f32", "src");
  const ti = arena.upload(idx, [idx.length], "i32", "idx");
  const to = arena.upload(out0, [out0.length], "f32", "out");
  const prep = mode === "gather" ? prepareGatherRows : prepareScatterRows;
  const got = await runAndRead(gpu, await prep(gpu, arena, s, { src: ts, idx: ti, out: to }), to);
  const want = (mode === "gather" ? gatherRowsRef : scatterRowsRef)(s, src, idx, out0);
  const tol = s.accumulate ? 1e-6 : 0; // copies are exact; accumulate rounds once
  assertAllClose(got, want, { rtol: tol, atol: tol, label: `${mode} ${JSON.stringify(s)}` });
}

function randomIdx(n: number, bound: number, seed: number, padding = 0): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => (r() < padding ? -1 : Math.floor(r() * bound)));
}

function permutation(n: number, seed: number): Int32Array {
  const r = rng(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

gpuTest("gatherRows() awkward widths, repeats and padding indices", async (ctx) => {
  for (const cols of AWKWARD_SIZES) {
    const n = cols >= 785 ? 5 : 23;
    const idx = randomIdx(n, 11, cols, 0.2);
    idx[0] = 11; // one past the end: padding
    await check(ctx, "gather", { n, cols, indexedRows: 11 }, idx, cols);
  }
  await check(
    ctx,
    "gather",
    { n: 9, cols: 7, indexedRows: 5, lds: 10, srcOffset: 2, ldo: 8, outOffset: 1 },
    randomIdx(9, 5, 3),
  );
  // 2-D grid: 2,000 elements = 8 workgroups over a limit of 7 per dimension.
  await check(ctx, "gather", { n: 40, cols: 50, indexedRows: 30 }, randomIdx(40, 30, 9), 2, 7);
  await check(ctx, "scatter", { n: 40, cols: 50, indexedRows: 40 }, permutation(40, 9), 2, 7);
  const idx = new Int32Array(20).fill(-7);
  idx.set([0, 4, 2], 1);
  await check(ctx, "gather", { n: 3, cols: 6, indexedRows: 5, idxOffset: 1 }, idx);
});

gpuTest("scatterRows() permutations, skipped rows, accumulate", async (ctx) => {
  for (const [n, cols] of [[1, 1], [17, 3], [197, 17]]) {
    await check(ctx, "scatter", { n, cols, indexedRows: n }, permutation(n, n));
  }
  // Scatter 5 rows into 12 (distinct targets), one index out of range.
  await check(
    ctx,
    "scatter",
    { n: 5, cols: 9, indexedRows: 12, ldo: 11, outOffset: 2 },
    Int32Array.from([7, 0, 11, -1, 3]),
  );
  await check(
    ctx,
    "scatter",
    { n: 17, cols: 33, indexedRows: 20, accumulate: true },
    permutation(20, 4).slice(0, 17),
  );
});

gpuTest("gatherRows() rejects non-i32 indices and short tensors", async ({ gpu, arena }) => {
  const src = arena.tensor([30], "f32", "src");
  const out = arena.tensor([30], "f32", "out");
  const fidx = arena.tensor([3], "f32", "fidx");
  const idx = arena.tensor([3], "i32", "idx");
  await assert.rejects(
    () => prepareGatherRows(gpu, arena, { n: 3, cols: 10, indexedRows: 3 }, { src, idx: fidx, out }),
    /is f32/,
  );
  await assert.rejects(
    () => prepareGatherRows(gpu, arena, { n: 3, cols: 10, indexedRows: 4 }, { src, idx, out }),
    (e: Error) => e instanceof TypeError && /src "src" has 30 elements/.test(e.message),
  );
});

/**
 * Elementwise ops (core/kernels/elementwise.ts) against the float64 reference: every op, awkward
 * lengths, strided / transposed / broadcast operands, accumulate, and in place.
 * @module
 */
import {
  type ElementwiseOp,
  elementwiseOp64,
  elementwiseRef,
  type ElementwiseShape,
  type OperandLayout,
  prepareElementwise,
} from "../../core/kernels/elementwise.ts";
import { assertAllClose, AWKWARD_SIZES, gpuTest, type GpuTestContext, randnF32 } from "../_util.ts";
import { runAndRead, smallGrid } from "./_run.ts";
import assert from "node:assert/strict";

function extent(l: OperandLayout | undefined, rows: number, cols: number): number {
  return (l?.offset ?? 0) + (rows - 1) * (l?.ld ?? cols) + (cols - 1) * (l?.inc ?? 1) + 1;
}

const TOL: Partial<Record<ElementwiseOp, number>> = { gelu: 2e-6, geluGrad: 3e-6, div: 1e-6 };

async function check(
  { gpu: realGpu, arena }: GpuTestContext,
  s: ElementwiseShape,
  opts: { seed?: number; xIsOut?: boolean; yIsOut?: boolean; maxGrid?: number } = {},
) {
  const gpu = opts.maxGrid ? smallGrid(realGpu, opts.maxGrid) : realGpu;
  const seed = opts.seed ?? 1;
  const out0 = randnF32(extent(s.out, s.rows, s.cols), seed);
  const x = opts.xIsOut ? out0 : randnF32(extent(s.x, s.rows, s.cols), seed + 1, 2);
  const y = opts.yIsOut ? out0 : randnF32(extent(s.y, s.rows, s.cols), seed + 2);
  if (s.op === "div") {
    for (let i = 0; i < y.length; i++) y[i] = Math.sign(y[i] || 1) * (0.5 + Math.abs(y[i]));
  }
  const tout = arena.upload(out0, [out0.length], "f32", "out");
  const tx = opts.xIsOut ? tout : arena.upload(x, [x.length], "f32", "x");
  const ty = opts.yIsOut ? tout : arena.upload(y, [y.length], "f32", "y");
  const got = await runAndRead(
    gpu,
    await prepareElementwise(gpu, arena, s, { x: tx, y: ty, out: tout }),
    tout,
  );
  const want = elementwiseRef(s, out0, x, y);
  const tol = TOL[s.op] ?? 0;
  // f32 results of one or two roundings: rtol 1e-6 (webgpu-notes.md §4); GELU through A&S erf ≤ 2e-7.
  assertAllClose(got, want, { rtol: 1e-6, atol: tol + 1e-7, label: `elementwise ${JSON.stringify(s)}` });
}

const ALL_OPS: ElementwiseOp[] = [
  "copy",
  "fill",
  "scale",
  "axpy",
  "add",
  "mul",
  "div",
  "relu",
  "gelu",
  "reluGrad",
  "geluGrad",
];

gpuTest("elementwise() every op on awkward flat lengths", async (ctx) => {
  for (const op of ALL_OPS) {
    for (const n of [1, 17, 1601]) await check(ctx, { op, rows: 1, cols: n, alpha: 0.75, beta: -0.5 });
  }
  // More workgroups than one grid dimension holds (a limit of 7 stands in for 65,535): 2-D grid.
  await check(ctx, { op: "add", rows: 3, cols: 20 * 256 + 3 }, { maxGrid: 7 });
});

gpuTest("elementwise() strided copy, broadcast bias, per-row scale, transposed read", async (ctx) => {
  // Copy a [17, 20] window out of a [.., 33]-strided matrix into a [.., 25]-strided one.
  await check(ctx, { op: "copy", rows: 17, cols: 20, x: { ld: 33, offset: 4 }, out: { ld: 25, offset: 2 } });
  // Bias add: y is one [cols] row broadcast to every row.
  await check(ctx, { op: "add", rows: 197, cols: 3, y: { ld: 0 } });
  // Per-row scale: y is one value per row.
  await check(ctx, { op: "mul", rows: 13, cols: 785, y: { ld: 1, inc: 0 } });
  // Read x transposed (column-major) while writing row-major.
  await check(ctx, { op: "scale", rows: 7, cols: 9, alpha: 2, x: { ld: 1, inc: 7 } });
  for (const n of AWKWARD_SIZES.slice(0, 4)) {
    await check(ctx, { op: "geluGrad", rows: n, cols: 3, x: { ld: 5 }, y: { ld: 4, offset: 1 } }, {
      seed: n,
    });
  }
});

gpuTest("elementwise() accumulate and in place", async (ctx) => {
  await check(ctx, { op: "axpy", rows: 1, cols: 197, alpha: -0.3 });
  await check(ctx, { op: "gelu", rows: 5, cols: 17, accumulate: true });
  await check(ctx, { op: "relu", rows: 3, cols: 33 }, { xIsOut: true });
  await check(ctx, { op: "mul", rows: 3, cols: 33, alpha: 2 }, { yIsOut: true });
  await check(ctx, { op: "reluGrad", rows: 4, cols: 10 }, { yIsOut: true });
});

Deno.test("elementwiseOp64() geluGrad matches a central difference of gelu", () => {
  for (const x of [-3, -1, -0.2, 0, 0.4, 1.5, 3]) {
    const h = 1e-5;
    const fd = (elementwiseOp64("gelu", x + h, 0) - elementwiseOp64("gelu", x - h, 0)) / (2 * h);
    assertAllClose([elementwiseOp64("geluGrad", x, 1)], [fd], { rtol: 1e-8, atol: 1e-9, label: `x=${x}` });
  }
});

gpuTest("elementwise() rejects missing operands and bad in-place layouts", async ({ gpu, arena }) => {
  const out = arena.tensor([20], "f32", "out");
  const x = arena.tensor([20], "f32", "x");
  await assert.rejects(
    () => prepareElementwise(gpu, arena, { op: "add", rows: 1, cols: 20 }, { x, out }),
    /needs tensor y/,
  );
  await assert.rejects(
    () => prepareElementwise(gpu, arena, { op: "relu", rows: 2, cols: 10, x: { ld: 9 } }, { x: out, out }),
    /layout/,
  );
  await assert.rejects(
    () => prepareElementwise(gpu, arena, { op: "copy", rows: 3, cols: 10 }, { x, out }),
    (e: Error) => e instanceof TypeError && /out "out" has 20 elements/.test(e.message),
  );
});

/**
 * Row softmax / log-softmax (core/kernels/softmax.ts) against the float64 reference: awkward widths,
 * scale, column / full / grouped masks with MASK_NEG, fully masked rows, strides, in place, and more rows
 * than one grid dimension holds.
 * @module
 */
import { MASK_NEG, prepareSoftmax, softmaxRef, type SoftmaxShape } from "../../core/kernels/softmax.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, AWKWARD_SIZES, gpuTest, type GpuTestContext, randnF32, rng } from "../_util.ts";
import assert from "node:assert/strict";

async function check(
  { gpu, arena }: GpuTestContext,
  s: SoftmaxShape,
  opts: { seed?: number; maskLen?: number; inPlace?: boolean; xScale?: number } = {},
): Promise<Float32Array> {
  const seed = opts.seed ?? 1;
  const ldx = s.ldx ?? s.cols, ldy = s.ldy ?? s.cols;
  const xLen = (s.xOffset ?? 0) + (s.rows - 1) * ldx + s.cols;
  const yLen = (s.yOffset ?? 0) + (s.rows - 1) * ldy + s.cols;
  const x = randnF32(xLen, seed, opts.xScale ?? 3);
  const y0 = opts.inPlace ? x : randnF32(yLen, seed + 1);
  let mask: Float32Array | undefined;
  if (opts.maskLen) {
    const r = rng(seed + 2);
    mask = new Float32Array(opts.maskLen);
    // Mostly kept, some dropped with the large finite negative, some soft additive biases.
    for (let i = 0; i < mask.length; i++) {
      const u = r();
      mask[i] = u < 0.3 ? MASK_NEG : u < 0.5 ? 2 * u - 1 : 0;
    }
  }
  const tx = arena.upload(x, [x.length], "f32", "X");
  const ty = opts.inPlace ? tx : arena.upload(y0, [y0.length], "f32", "Y");
  const tm = mask ? arena.upload(mask, [mask.length], "f32", "mask") : undefined;
  const d = await prepareSoftmax(gpu, arena, s, { x: tx, y: ty, mask: tm });
  new StepRecorder(gpu).dispatch(d).submit();
  const got = await readF32(gpu, ty);
  const want = softmaxRef(s, x, y0, mask);
  // exp/log in f32 are accurate to a few ulp; the sum adds ~log2(cols) roundings.
  const tol = s.log ? 2e-5 * Math.max(1, Math.log2(s.cols)) : 1e-6;
  assertAllClose(got, want, { rtol: 1e-5, atol: tol, label: `softmax ${JSON.stringify(s)}` });
  return got;
}

gpuTest("softmax() matches the float64 reference at awkward widths", async (ctx) => {
  for (const cols of AWKWARD_SIZES) {
    const rows = cols >= 785 ? 3 : 17;
    const got = await check(ctx, { rows, cols }, { seed: cols });
    // Rows sum to 1 (dino-backbone.md: "Softmax rows sum to 1 ± 1e-6").
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += got[r * cols + c];
      assert(Math.abs(s - 1) < 2e-6, `row ${r} of width ${cols} sums to ${s}`);
    }
  }
});

gpuTest("softmax() log-softmax and scale", async (ctx) => {
  await check(ctx, { rows: 5, cols: 197, log: true, scale: 0.125 }, { xScale: 20 });
  await check(ctx, { rows: 3, cols: 1601, log: true });
  await check(ctx, { rows: 4, cols: 33, scale: 28 });
});

gpuTest("softmax() additive masks: column, full, grouped, fully masked rows", async (ctx) => {
  // One [cols] mask broadcast to every row.
  await check(ctx, { rows: 9, cols: 197, mask: { ld: 0 } }, { maskLen: 197 });
  // A full [rows, cols] mask.
  await check(ctx, { rows: 9, cols: 17, mask: {} }, { maskLen: 9 * 17, seed: 5 });
  // One mask row per group of 4 rows (key padding shared by the heads of one image), with an offset.
  await check(ctx, { rows: 12, cols: 31, log: true, mask: { rowsPerMaskRow: 4, offset: 2, ld: 40 } }, {
    maskLen: 2 + 2 * 40 + 31,
    seed: 6,
  });
  // Every logit masked: finite and uniform, never NaN.
  const { gpu, arena } = ctx;
  const x = randnF32(2 * 5, 9);
  const tx = arena.upload(x, [10], "f32", "X");
  const ty = arena.tensor([10], "f32", "Y");
  const tm = arena.upload(new Float32Array(5).fill(MASK_NEG), [5], "f32", "mask");
  const d = await prepareSoftmax(gpu, arena, { rows: 2, cols: 5, mask: { ld: 0 } }, {
    x: tx,
    y: ty,
    mask: tm,
  });
  new StepRecorder(gpu).dispatch(d).submit();
  const got = await readF32(gpu, ty);
  // x + MASK_NEG rounds to MASK_NEG in f32 (|x| ≪ ulp(1e30)), so all logits tie.
  assertAllClose(got, new Float32Array(10).fill(0.2), { rtol: 1e-6, label: "fully masked rows" });
});

gpuTest("softmax() strided windows, in place, and rows beyond one grid dimension", async (ctx) => {
  await check(ctx, { rows: 7, cols: 20, ldx: 33, xOffset: 4, ldy: 25, yOffset: 3 });
  await check(ctx, { rows: 6, cols: 65 }, { inPlace: true });
  await check(ctx, { rows: 6, cols: 65, log: true, scale: 0.5 }, { inPlace: true });
  // 70,000 rows need the 2-D grid (65,535 workgroups per dimension).
  await check(ctx, { rows: 70_000, cols: 3 }, { seed: 11 });
});

gpuTest("softmax() rejects bad layouts", async ({ gpu, arena }) => {
  const x = arena.tensor([30], "f32", "X");
  const y = arena.tensor([20], "f32", "Y");
  await assert.rejects(
    () => prepareSoftmax(gpu, arena, { rows: 3, cols: 10 }, { x, y }),
    (e: Error) => e instanceof TypeError && /y "Y" has 20 elements/.test(e.message),
  );
  await assert.rejects(
    () => prepareSoftmax(gpu, arena, { rows: 2, cols: 10, ldy: 12 }, { x, y: x }),
    /in place/,
  );
  await assert.rejects(() => prepareSoftmax(gpu, arena, { rows: 2, cols: 10, mask: {} }, { x, y }), /mask/);
});

/**
 * Row layernorm (core/kernels/layernorm.ts) against the float64 reference: awkward and ViT widths,
 * affine / no affine, stats output, strides, in place, and more rows than one grid dimension holds.
 * @module
 */
import { layerNormRef, type LayerNormShape, prepareLayerNorm } from "../../core/kernels/layernorm.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32, readFloat } from "../../core/gpu/readback.ts";
import { assertAllClose, AWKWARD_SIZES, gpuTest, type GpuTestContext, randnF32 } from "../_util.ts";
import assert from "node:assert/strict";

async function check(
  { gpu, arena }: GpuTestContext,
  s: LayerNormShape,
  opts: { seed?: number; affine?: boolean; stats?: boolean; inPlace?: boolean; shift?: number } = {},
) {
  const seed = opts.seed ?? 1;
  const ldx = s.ldx ?? s.cols, ldy = s.ldy ?? s.cols;
  const g = s.xGroups ?? { rows: s.rows, stride: 0 };
  const xAt = (r: number) => (s.xOffset ?? 0) + Math.floor(r / g.rows) * g.stride + (r % g.rows) * ldx;
  const xLen = xAt(s.rows - 1) + s.cols;
  const yLen = (s.yOffset ?? 0) + (s.rows - 1) * ldy + s.cols;
  const x = randnF32(xLen, seed, 2);
  // A common offset per element tests the two-pass variance (one-pass E[x²]−E[x]² loses digits).
  if (opts.shift) { for (let i = 0; i < x.length; i++) x[i] += opts.shift; }
  const y0 = opts.inPlace ? x : randnF32(yLen, seed + 1);
  const w = opts.affine ? randnF32(s.cols, seed + 2) : undefined;
  const b = opts.affine ? randnF32(s.cols, seed + 3) : undefined;
  const tx = arena.upload(x, [x.length], "f32", "X");
  const ty = opts.inPlace ? tx : arena.upload(y0, [y0.length], "f32", "Y");
  const tw = w ? arena.upload(w, [w.length], "f32", "W") : undefined;
  const tb = b ? arena.upload(b, [b.length], "f32", "B") : undefined;
  const ts = opts.stats ? arena.tensor([s.rows, 2], "f32", "stats") : undefined;
  const d = await prepareLayerNorm(gpu, arena, s, { x: tx, y: ty, weight: tw, bias: tb, stats: ts });
  new StepRecorder(gpu).dispatch(d).submit();
  const got = await readF32(gpu, ty);
  const want = layerNormRef(s, x, y0, w, b);
  // Normalised values are O(1) (times |w| ≤ ~4): f32 sums over C terms give ~√C·ε relative error. A row
  // with a tiny variance amplifies the rounding of x − mean by rstd, so each row's tolerance is scaled by
  // its max |x|·rstd (≥ 1). Elements outside the rows must be untouched (checked exactly).
  const base = 3e-6 * Math.sqrt(s.cols) + 1e-6;
  const inRow = new Uint8Array(got.length);
  for (let r = 0; r < s.rows; r++) {
    let cond = 1;
    for (let c = 0; c < s.cols; c++) {
      cond = Math.max(cond, Math.abs(x[xAt(r) + c]) * want.stats[2 * r + 1]);
    }
    const lo = (s.yOffset ?? 0) + r * ldy;
    inRow.fill(1, lo, lo + s.cols);
    assertAllClose(got.subarray(lo, lo + s.cols), want.y.subarray(lo, lo + s.cols), {
      rtol: base * cond,
      atol: base * cond,
      label: `layernorm ${JSON.stringify(s)} row ${r}`,
    });
  }
  for (let i = 0; i < got.length; i++) {
    if (!inRow[i]) assert.equal(got[i], Math.fround(want.y[i]), `layernorm wrote outside its rows at [${i}]`);
  }
  if (ts) {
    const st = await readF32(gpu, ts);
    assertAllClose(st, want.stats, { rtol: 1e-4, atol: 1e-5, label: "layernorm stats" });
  }
}

gpuTest("layerNorm() matches the float64 reference at awkward and ViT widths", async (ctx) => {
  for (const cols of AWKWARD_SIZES) {
    if (cols === 1) continue; // width 1 is tested below (variance 0)
    await check(ctx, { rows: cols >= 785 ? 3 : 13, cols }, { seed: cols, affine: true });
  }
  await check(ctx, { rows: 33, cols: 384, eps: 1e-6 }, { affine: true, stats: true });
  await check(ctx, { rows: 9, cols: 768, eps: 1e-5 }, { affine: true, shift: 100 });
});

gpuTest("layerNorm() without affine, width 1, eps, stats", async (ctx) => {
  await check(ctx, { rows: 17, cols: 197 }, { stats: true });
  // Width 1: x − mean = 0 exactly, so y = bias.
  await check(ctx, { rows: 5, cols: 1, eps: 1e-5 }, { affine: true, stats: true });
  // A large eps visibly shrinks the output: checks eps is added to the variance, not the std.
  await check(ctx, { rows: 4, cols: 64, eps: 2.5 }, { stats: true });
});

gpuTest("layerNorm() strided windows, in place, and 70,000 rows", async (ctx) => {
  await check(ctx, { rows: 7, cols: 20, ldx: 33, xOffset: 5, ldy: 21, yOffset: 1 }, { affine: true });
  await check(ctx, { rows: 6, cols: 384 }, { inPlace: true, affine: true });
  await check(ctx, { rows: 70_000, cols: 3 }, { affine: true, seed: 7 });
  // Grouped rows (the ViT's final norm: 5 patch rows of each of 3 images, 2 other rows between images).
  await check(ctx, { rows: 15, cols: 20, xOffset: 3, ldx: 20, xGroups: { rows: 5, stride: 7 * 20 } }, {
    affine: true,
  });
});

gpuTest("layerNorm() rejects bad layouts", async ({ gpu, arena }) => {
  const x = arena.tensor([30], "f32", "X");
  const y = arena.tensor([30], "f32", "Y");
  const w = arena.tensor([5], "f32", "W");
  await assert.rejects(
    () => prepareLayerNorm(gpu, arena, { rows: 3, cols: 10 }, { x, y, weight: w }),
    (e: Error) => e instanceof TypeError && /weight "W" has 5 elements/.test(e.message),
  );
  const i = arena.tensor([30], "i32", "I");
  await assert.rejects(() => prepareLayerNorm(gpu, arena, { rows: 3, cols: 10 }, { x: i, y }), /is i32/);
});

gpuTest("layerNorm() stores an f16 Y: the float64 result rounded once, nothing else touched", async (ctx) => {
  const { gpu, arena } = ctx;
  // Odd widths, an odd Y offset and stride (f16 neighbours written by different threads), grouped rows.
  for (
    const s of [
      { rows: 13, cols: 197, eps: 1e-6 },
      { rows: 7, cols: 17, ldy: 19, yOffset: 3 },
      { rows: 10, cols: 33, xOffset: 3, ldx: 33, xGroups: { rows: 5, stride: 7 * 33 }, yOffset: 1 },
    ] as LayerNormShape[]
  ) {
    const ldx = s.ldx ?? s.cols, ldy = s.ldy ?? s.cols, g = s.xGroups ?? { rows: s.rows, stride: 0 };
    const xLen = (s.xOffset ?? 0) + Math.floor((s.rows - 1) / g.rows) * g.stride +
      ((s.rows - 1) % g.rows) * ldx + s.cols;
    const yLen = (s.yOffset ?? 0) + (s.rows - 1) * ldy + s.cols;
    const x = randnF32(xLen, s.cols, 2), w = randnF32(s.cols, 2), b = randnF32(s.cols, 3);
    const y0 = Float16Array.from(randnF32(yLen, 4));
    const ty = arena.upload(new Uint16Array(y0.buffer), [yLen], "f16", "Y16");
    const d = await prepareLayerNorm(gpu, arena, s, {
      x: arena.upload(x, [xLen], "f32", "X"),
      y: ty,
      weight: arena.upload(w, [s.cols], "f32", "W"),
      bias: arena.upload(b, [s.cols], "f32", "B"),
    });
    new StepRecorder(gpu).dispatch(d).submit();
    const got = await readFloat(gpu, ty);
    const want = layerNormRef(s, x, y0, w, b).y;
    // f32 arithmetic (≤ ~1e-5 here) then one rounding to f16 (≤ half an ulp, 2^-11 relative): the stored
    // value is the reference's f16 neighbour on either side of it.
    for (let i = 0; i < yLen; i++) {
      const tol = 2 ** -10 * Math.abs(want[i]) + 1e-5;
      assert.ok(Math.abs(got[i] - want[i]) <= tol, `f16 Y[${i}] = ${got[i]}, reference ${want[i]}`);
    }
    const exact = want.filter((v, i) => got[i] === Math.f16round(v)).length;
    assert.ok(exact >= 0.99 * yLen, `only ${exact}/${yLen} f16 values are the reference rounded to nearest`);
  }
  const x = arena.tensor([30], "f32", "X"), y16 = arena.tensor([30], "f16", "Y16");
  await assert.rejects(
    () => prepareLayerNorm(gpu, arena, { rows: 3, cols: 10 }, { x: y16, y: y16 }),
    /"Y16" is f16, expected f32/,
  );
  await prepareLayerNorm(gpu, arena, { rows: 3, cols: 10 }, { x, y: y16 });
});

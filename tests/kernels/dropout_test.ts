/**
 * Dropout2d (core/kernels/dropout.ts, shaders/kernels/dropout.wgsl with the hash of shaders/include/hash.wgsl):
 * the GPU mask equals the CPU reference exactly, and the mask drops whole channels per image at rate p.
 * @module
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { dropout2dRef, DROPOUT_P, dropoutKeep, prepareDropout2d } from "../../core/kernels/dropout.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

gpuTest(
  "prepareDropout2d() reproduces the CPU mask exactly, out of place and in place",
  async ({ gpu, arena }) => {
    for (const [rows, C, P] of [[17, 24, 5], [197, 16, 49], [3, 384, 1]]) {
      const x = randnF32(rows * C, rows + C);
      const tx = arena.upload(x, [rows, C]);
      const ty = arena.tensor([rows, C]);
      const d1 = await prepareDropout2d(gpu, arena, { rows, C, P }, tx, ty);
      const d2 = await prepareDropout2d(gpu, arena, { rows, C, P }, tx, tx);
      d1.setSeed(0xdeadbeef);
      d2.setSeed(12345);
      new StepRecorder(gpu).dispatch(d1.dispatch, d2.dispatch).submit();
      const want1 = dropout2dRef({ rows, C, P }, 0xdeadbeef, x);
      const want2 = dropout2dRef({ rows, C, P }, 12345, x);
      assertAllClose(await readF32(gpu, ty), want1, { rtol: 1e-7, atol: 0, label: `dropout ${rows}x${C}` });
      assertAllClose(await readF32(gpu, tx), want2, {
        rtol: 1e-7,
        atol: 0,
        label: `dropout in place ${rows}x${C}`,
      });
    }
  },
);

Deno.test("dropoutKeep() drops whole channels per image at rate p", () => {
  let dropped = 0;
  const n = 200 * 384;
  for (let b = 0; b < 200; b++) for (let c = 0; c < 384; c++) if (!dropoutKeep(77, b, 384, c)) dropped++;
  const rate = dropped / n;
  // Binomial standard deviation ≈ 0.0011: 5σ bounds.
  assert.ok(Math.abs(rate - DROPOUT_P) < 0.0055, `drop rate ${rate}`);
  // Rows of one image share the mask; a different seed gives a different mask.
  const x = new Float64Array(10 * 8).fill(1);
  const y = dropout2dRef({ rows: 10, C: 8, P: 5 }, 3, x);
  for (let r = 1; r < 5; r++) assert.deepEqual(y.slice(r * 8, r * 8 + 8), y.slice(0, 8));
  let differ = 0;
  for (let b = 0; b < 64; b++) {
    for (let c = 0; c < 64; c++) if (dropoutKeep(1, b, 64, c) !== dropoutKeep(2, b, 64, c)) differ++;
  }
  assert.ok(differ > 100, `seeds 1 and 2 differ in ${differ} of 4096 draws`);
});

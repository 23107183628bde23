/**
 * The EMA update ξ ← m·ξ + (1−m)·θ (core/kernels/ema.ts) against its float64 reference.
 * @module
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { emaUpdateRef, prepareEmaUpdate } from "../../core/kernels/ema.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

gpuTest("prepareEmaUpdate() computes m·ξ + (1−m)·θ", async ({ gpu, arena }) => {
  const n = 1601;
  const theta = randnF32(n, 1), xi = randnF32(n, 2);
  const tt = arena.upload(theta, [n]), tx = arena.upload(xi, [n]);
  const d = await prepareEmaUpdate(gpu, arena, n, tt, tx, 0.99);
  new StepRecorder(gpu).dispatch(d, d).submit();
  const want = emaUpdateRef(emaUpdateRef(xi, theta, 0.99), theta, 0.99);
  assertAllClose(await readF32(gpu, tx), want, { rtol: 1e-6, atol: 1e-7, label: "ema" });
  await assert.rejects(() => prepareEmaUpdate(gpu, arena, n, tt, tx, 1.5), RangeError);
});

/**
 * profileKernels() (core/bench/gpu_profile.ts): per-label GPU time from timestamp queries of a profiling
 * StepRecorder — every dispatch is counted under its label, the dispatches still do their work, and the
 * shares add up to 1.
 */
import assert from "node:assert/strict";
import { profileKernels } from "../../core/bench/gpu_profile.ts";
import { layerNormRef, prepareLayerNorm } from "../../core/kernels/layernorm.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

gpuTest(
  "profileKernels() times every dispatch under its label and the work still happens",
  async ({ gpu, arena }) => {
    const rows = 37, cols = 70;
    const x0 = randnF32(rows * cols, 3);
    const x = arena.upload(x0, [rows, cols], "f32", "x");
    const y = arena.tensor([rows, cols], "f32", "y");
    const ln = await prepareLayerNorm(gpu, arena, { rows, cols }, { x, y });
    const first = { ...ln, label: "first" }, second = { ...ln, label: "second" };
    const r = await profileKernels(gpu, 4, (rec) => rec.dispatch(first, second, second));
    if (!gpu.hasTimestamps) {
      assert.equal(r.kernels, null);
      assert.match(r.reason!, /timestamp-query/);
      return;
    }
    const by = new Map(r.kernels!.map((k) => [k.name, k]));
    assert.deepEqual([...by.keys()].sort(), ["first", "second"]);
    assert.equal(by.get("first")!.dispatches, 1);
    assert.equal(by.get("second")!.dispatches, 2);
    for (const k of r.kernels!) assert.ok(k.ms >= 0 && k.share >= 0 && k.share <= 1, JSON.stringify(k));
    if (r.totalMs > 0) assert.ok(Math.abs(r.kernels!.reduce((s, k) => s + k.share, 0) - 1) < 1e-9);
    assertAllClose(await readF32(gpu, y), layerNormRef({ rows, cols }, x0, new Float32Array(rows * cols)).y, {
      atol: 1e-5,
      rtol: 1e-5,
      label: "profiled layernorm output",
    });
    // More dispatches than the query set holds: a clear RangeError, not a validation error.
    await assert.rejects(profileKernels(gpu, 1, (rec) => rec.dispatch(first, second)), /holds 1 dispatches/);
  },
);

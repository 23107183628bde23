/**
 * Row L2 normalisation z = u / max(‖u‖₂, 1e-12) and its backward (core/kernels/l2norm.ts) against the float64
 * reference, out of place, in place and accumulating, with a zero row.
 * @module
 */
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import {
  l2normalizeBackwardRef,
  l2normalizeRef,
  prepareL2Normalize,
  prepareL2NormalizeBackward,
} from "../../core/kernels/l2norm.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

gpuTest("prepareL2Normalize() and its backward match the float64 reference", async ({ gpu, arena }) => {
  for (const [rows, C] of [[17, 24], [197, 16], [3, 385]]) {
    const x = randnF32(rows * C, rows);
    x.fill(0, 0, C); // a zero row: the norm clamps to 1e-12 and the output stays 0
    const dz = randnF32(rows * C, rows + 1);
    const tx = arena.upload(x, [rows, C]), ty = arena.tensor([rows, C]), tn = arena.tensor([rows]);
    const txi = arena.upload(x, [rows, C]);
    const tdz = arena.upload(dz, [rows, C]), tdu = arena.upload(dz, [rows, C]);
    const fwd = await prepareL2Normalize(gpu, arena, rows, C, { x: tx, y: ty, norms: tn });
    const fwdIn = await prepareL2Normalize(gpu, arena, rows, C, { x: txi, y: txi });
    const bwd = await prepareL2NormalizeBackward(
      gpu,
      arena,
      rows,
      C,
      { z: ty, norms: tn, dz: tdz, du: tdu },
      true,
    );
    new StepRecorder(gpu).dispatch(fwd, fwdIn, bwd).submit();
    const want = l2normalizeRef(rows, C, x);
    assertAllClose(await readF32(gpu, ty), want.z, { rtol: 1e-5, atol: 1e-6, label: `z ${rows}x${C}` });
    assertAllClose(await readF32(gpu, txi), want.z, {
      rtol: 1e-5,
      atol: 1e-6,
      label: `z in place ${rows}x${C}`,
    });
    assertAllClose(await readF32(gpu, tn), want.norms, { rtol: 1e-5, atol: 0, label: `norms ${rows}x${C}` });
    const du = l2normalizeBackwardRef(rows, C, want.z, want.norms, dz);
    // The zero row's gradient is dz/1e-12 (the constant clamp), huge but exact; compare the other rows.
    const got = await readF32(gpu, tdu);
    assertAllClose(got.subarray(C), du.subarray(C).map((v, i) => v + dz[C + i]), {
      rtol: 1e-4,
      atol: 1e-5,
      label: `du accumulated ${rows}x${C}`,
    });
    assertAllClose(got.subarray(0, C), du.subarray(0, C), {
      rtol: 1e-5,
      atol: 0,
      label: "du of the zero row",
    });
  }
});

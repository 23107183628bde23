/**
 * The projection head (core/model/projection.ts): GPU against float64 references, central finite differences
 * for normalise + projection backward. (The row normalisation kernel is tested in tests/kernels/l2norm_test.ts.)
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { Rng } from "../../core/rng.ts";
import {
  prepareProjectionBackward,
  prepareProjectionForward,
  projectionBackwardRef,
  projectionForwardRef,
} from "../../core/model/projection.ts";
import { projectionLayout } from "../../core/model/params.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

gpuTest("prepareProjectionForward()/Backward() match the float64 reference", async ({ gpu, arena }) => {
  const rng = new Rng(1);
  for (const [rows, D] of [[17, 16], [197, 16], [5, 512]]) {
    const L = projectionLayout(D);
    const params = L.init(rng);
    const s = randnF32(rows * D, rows), dz = randnF32(rows * D, rows + 5);
    const ds0 = randnF32(rows * D, rows + 6);
    const tp = arena.upload(params, [L.total]), ts = arena.upload(s, [rows, D]);
    const tdz = arena.upload(dz, [rows, D]), tds = arena.upload(ds0, [rows, D]);
    const grads = arena.tensor([L.total]);
    const fwd = await prepareProjectionForward(gpu, arena, rows, D, { params: tp, s: ts });
    const bwd = await prepareProjectionBackward(gpu, arena, fwd, {
      dz: tdz,
      grads,
      accumulateGrads: false,
      ds: tds,
      accumulateDs: true,
      splits: rows > 17 ? 4 : undefined, // 197 rows: split-K with a remainder
    });
    const rec = new StepRecorder(gpu);
    fwd.record(rec);
    bwd.record(rec);
    rec.submit();
    const want = projectionForwardRef(rows, D, params, s);
    const tol = 3e-5 * Math.sqrt(D) + 1e-5;
    assertAllClose(await readF32(gpu, fwd.z), want.z, { rtol: tol, atol: tol, label: `z ${rows}x${D}` });
    const wb = projectionBackwardRef(rows, D, params, s, dz);
    const gtol = 4e-5 * Math.sqrt(rows * D) + 1e-5;
    assertAllClose(await readF32(gpu, grads), wb.grads, {
      rtol: gtol,
      atol: gtol,
      label: `grads ${rows}x${D}`,
    });
    assertAllClose(await readF32(gpu, tds), wb.ds.map((v, i) => v + ds0[i]), {
      rtol: gtol,
      atol: gtol,
      label: `ds ${rows}x${D}`,
    });
  }
});

Deno.test("projectionBackwardRef() agrees with central finite differences", () => {
  const rows = 4, D = 5;
  const L = projectionLayout(D);
  const params = Float64Array.from(L.init(new Rng(2)));
  const s = Float64Array.from(randnF32(rows * D, 3));
  const R = Float64Array.from(randnF32(rows * D, 4));
  const loss = (p: ArrayLike<number>, x: ArrayLike<number>) =>
    projectionForwardRef(rows, D, p, x).z.reduce((a, v, i) => a + v * R[i], 0);
  const { grads, ds } = projectionBackwardRef(rows, D, params, s, R);
  const h = 1e-6;
  const check = (
    what: string,
    base: Float64Array,
    k: number,
    got: number,
    f: (v: Float64Array) => number,
  ) => {
    const v = base.slice();
    v[k] += h;
    const lp = f(v);
    v[k] -= 2 * h;
    const fd = (lp - f(v)) / (2 * h);
    assert.ok(Math.abs(fd - got) <= 1e-6 + 1e-6 * Math.abs(fd), `${what}[${k}]: fd ${fd} vs ${got}`);
  };
  for (const seg of L.segments) {
    for (let i = 0; i < seg.size; i++) {
      check(seg.name, params, seg.offset + i, grads[seg.offset + i], (p) => loss(p, s));
    }
  }
  for (let k = 0; k < rows * D; k++) check("s", s, k, ds[k], (x) => loss(params, x));
});

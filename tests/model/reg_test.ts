/** Consistency regulariser (hp-method.md §5.6): GPU vs float64 reference, finite differences, PyTorch golden. */
import { ConsistencyReg } from "../../core/model/reg.ts";
import { consistencyRegRef } from "../../core/model/loss_ref.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";
import { loadHpGolden } from "../fixtures/hp/golden.ts";

gpuTest(
  "ConsistencyReg matches the reference (N=75, D=20, 130; α-scaled, accumulating)",
  async ({ gpu, arena }) => {
    for (const [N, D] of [[75, 20], [9, 130]]) {
      const z = randnF32(N * D, 1),
        za = randnF32(N * D, 2),
        dz0 = randnF32(N * D, 3),
        dza0 = randnF32(N * D, 4);
      const dz = arena.upload(dz0, [N, D], "f32", "dz"), dza = arena.upload(dza0, [N, D], "f32", "dza");
      const reg = await ConsistencyReg.create(gpu, arena, { N, D }, {
        z: arena.upload(z, [N, D], "f32", "z"),
        za: arena.upload(za, [N, D], "f32", "za"),
        dz,
        dza,
      }, { scale: 0.05, accumulate: true });
      const rec = new StepRecorder(gpu);
      reg.record(rec);
      rec.submit();
      const ref = consistencyRegRef(z, za, N, D, 0.05);
      assertAllClose(await readF32(gpu, reg.loss).then((l) => [l[0]]), [ref.loss], {
        rtol: 1e-5,
        label: "L_reg",
      });
      assertAllClose(await readF32(gpu, dz), ref.dz.map((v, k) => v + dz0[k]), {
        rtol: 1e-5,
        atol: 1e-7,
        label: "dz",
      });
      assertAllClose(await readF32(gpu, dza), ref.dza.map((v, k) => v + dza0[k]), {
        rtol: 1e-5,
        atol: 1e-7,
        label: "dza",
      });
      reg.destroy();
    }
  },
);

gpuTest(
  "ConsistencyReg accumulates only into the gradients passed in; its own dza is overwritten",
  async ({ gpu, arena }) => {
    const N = 13, D = 7;
    const z = randnF32(N * D, 11), za = randnF32(N * D, 12), dz0 = randnF32(N * D, 13);
    const dz = arena.upload(dz0, [N, D], "f32", "dz");
    const reg = await ConsistencyReg.create(gpu, arena, { N, D }, {
      z: arena.upload(z, [N, D], "f32", "z"),
      za: arena.upload(za, [N, D], "f32", "za"),
      dz,
    }, { scale: 0.5, accumulate: true });
    // Two steps: the caller's dz receives both; the regulariser's own dza holds one step's gradient.
    for (let step = 0; step < 2; step++) {
      const rec = new StepRecorder(gpu);
      reg.record(rec);
      rec.submit();
    }
    const ref = consistencyRegRef(z, za, N, D, 0.5);
    assertAllClose(await readF32(gpu, dz), ref.dz.map((v, k) => 2 * v + dz0[k]), {
      rtol: 1e-5,
      atol: 1e-7,
      label: "dz (accumulated twice)",
    });
    assertAllClose(await readF32(gpu, reg.dza), ref.dza, { rtol: 1e-5, atol: 1e-7, label: "own dza" });
    reg.destroy();
  },
);

Deno.test("consistencyRegRef gradients match central finite differences", () => {
  const N = 5, D = 4;
  const z = Float64Array.from(randnF32(N * D, 7)), za = Float64Array.from(randnF32(N * D, 8));
  const ref = consistencyRegRef(z, za, N, D);
  for (const [x, g] of [[z, ref.dz], [za, ref.dza]] as const) {
    const fd = new Float64Array(N * D), h = 1e-6;
    for (let k = 0; k < x.length; k++) {
      const v = x[k];
      x[k] = v + h;
      const up = consistencyRegRef(z, za, N, D).loss;
      x[k] = v - h;
      const dn = consistencyRegRef(z, za, N, D).loss;
      x[k] = v;
      fd[k] = (up - dn) / (2 * h);
    }
    assertAllClose(g, fd, { rtol: 1e-6, atol: 1e-9, label: "FD L_reg" });
  }
});

gpuTest("ConsistencyReg matches the PyTorch golden (pairwise_distance, eps=1e-6)", async ({ gpu, arena }) => {
  const g = loadHpGolden();
  const { B, S, D } = g.dims;
  const N = B * S * S;
  const reg = await ConsistencyReg.create(gpu, arena, { N, D }, {
    z: arena.upload(g.tensors.z.data, [N, D], "f32", "z"),
    za: arena.upload(g.tensors.z_aug.data, [N, D], "f32", "za"),
  });
  const rec = new StepRecorder(gpu);
  reg.record(rec);
  rec.submit();
  const loss = await readF32(gpu, reg.loss);
  assertAllClose([loss[0]], [g.losses.reg], { rtol: 1e-5, atol: 0, label: "golden L_reg" });
  assertAllClose(await readF32(gpu, reg.dz), g.tensors.dz_reg.data, {
    rtol: 1e-4,
    atol: 1e-7,
    label: "golden dz",
  });
  assertAllClose(await readF32(gpu, reg.dza), g.tensors.dz_aug_reg.data, {
    rtol: 1e-4,
    atol: 1e-7,
    label: "golden dza",
  });
  reg.destroy();
});

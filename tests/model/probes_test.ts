/**
 * Tests for core/model/probes.ts: GPU losses/gradients against float64 CPU references, and the references
 * against central finite differences (hp-method.md §8.2, §8.3).
 * @module
 */
import { ok } from "node:assert/strict";
import { ClusterProbe, clusterProbeRef, LinearProbe, linearProbeRef } from "../../core/model/probes.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32, rng } from "../_util.ts";

Deno.test("clusterProbeRef() gradient matches central finite differences", () => {
  const N = 9, n = 3, D = 4;
  const code = Float64Array.from(randnF32(N * D, 1)), C = Float64Array.from(randnF32(n * D, 2));
  const { grad } = clusterProbeRef(code, C, N, n, D);
  const h = 1e-6;
  for (let j = 0; j < n * D; j++) {
    const cp = C.slice(), cm = C.slice();
    cp[j] += h;
    cm[j] -= h;
    const fd = (clusterProbeRef(code, cp, N, n, D).loss - clusterProbeRef(code, cm, N, n, D).loss) / (2 * h);
    ok(Math.abs(fd - grad[j]) < 1e-6, `C[${j}]: fd ${fd} vs analytic ${grad[j]}`);
  }
});

Deno.test("linearProbeRef() gradients match central finite differences", () => {
  const n = 3, D = 4, g = { B: 2, Sh: 2, Sw: 3, H: 5, W: 7 };
  const N = g.B * g.Sh * g.Sw;
  const code = Float64Array.from(randnF32(N * D, 3)), w = Float64Array.from(randnF32(n * D, 4, 0.5));
  const b = Float64Array.from(randnF32(n, 5, 0.5));
  const r = rng(6);
  const labels = Int32Array.from({ length: g.B * g.H * g.W }, () => Math.floor(r() * (n + 2)) - 1);
  const ref = linearProbeRef(code, w, b, labels, n, D, g);
  const h = 1e-6;
  for (let j = 0; j < n * D + n; j++) {
    const wp = w.slice(), wm = w.slice(), bp = b.slice(), bm = b.slice();
    if (j < n * D) [wp[j], wm[j]] = [w[j] + h, w[j] - h];
    else [bp[j - n * D], bm[j - n * D]] = [b[j - n * D] + h, b[j - n * D] - h];
    const fd = (linearProbeRef(code, wp, bp, labels, n, D, g).loss -
      linearProbeRef(code, wm, bm, labels, n, D, g).loss) /
      (2 * h);
    const an = j < n * D ? ref.gradW[j] : ref.gradB[j - n * D];
    ok(Math.abs(fd - an) < 1e-6, `param ${j}: fd ${fd} vs analytic ${an}`);
  }
});

for (const [N, n, D] of [[37, 5, 19], [785, 27, 64]]) {
  gpuTest(`ClusterProbe matches the CPU reference (N=${N}, n=${n}, D=${D})`, async ({ gpu, arena }) => {
    const codeData = randnF32(N * D, 10 + N), init = randnF32(n * D, 20 + n);
    const code = arena.upload(codeData, [N, D]);
    const probe = await ClusterProbe.create(gpu, arena, { n, D, N }, code, { init });
    const rec = new StepRecorder(gpu);
    probe.record(rec);
    rec.submit();
    const ref = clusterProbeRef(codeData, init, N, n, D);
    const [loss] = await readF32(gpu, probe.loss);
    assertAllClose([loss], [ref.loss], { atol: 1e-5, rtol: 1e-4, label: "loss" });
    assertAllClose(await readF32(gpu, probe.grad), ref.grad, { atol: 1e-6, rtol: 1e-3, label: "grad" });
    probe.destroy();
  });
}

const LINEAR_CASES = [
  { n: 4, D: 6, B: 2, Sh: 3, Sw: 4, H: 10, W: 13 }, // non-integer scales
  { n: 5, D: 17, B: 1, Sh: 4, Sw: 4, H: 32, W: 32 }, // scale 8, as 28 → 224 in training
];
for (const s of LINEAR_CASES) {
  gpuTest(
    `LinearProbe matches the CPU reference (${s.Sh}×${s.Sw} → ${s.H}×${s.W}, n=${s.n})`,
    async ({ gpu, arena }) => {
      const N = s.B * s.Sh * s.Sw;
      const codeData = randnF32(N * s.D, 30 + N), init = randnF32(s.n * s.D + s.n, 40, 0.3);
      const r = rng(50);
      const lab = Int32Array.from({ length: s.B * s.H * s.W }, () => {
        const v = Math.floor(r() * (s.n + 2)) - 1; // includes −1 and n (both ignored)
        return v;
      });
      const code = arena.upload(codeData, [N, s.D]);
      const labels = arena.upload(lab, [s.B, s.H, s.W], "i32");
      const probe = await LinearProbe.create(gpu, arena, s, code, labels, { init });
      const rec = new StepRecorder(gpu);
      probe.record(rec);
      rec.submit();
      const ref = linearProbeRef(
        codeData,
        init.subarray(0, s.n * s.D),
        init.subarray(s.n * s.D),
        lab,
        s.n,
        s.D,
        s,
      );
      const loss = await readF32(gpu, probe.loss);
      assertAllClose([loss[0], loss[1]], [ref.loss, ref.valid], { atol: 1e-5, rtol: 1e-4, label: "loss" });
      const grad = await readF32(gpu, probe.grad);
      assertAllClose(grad.subarray(0, s.n * s.D), ref.gradW, { atol: 1e-6, rtol: 1e-3, label: "gradW" });
      assertAllClose(grad.subarray(s.n * s.D), ref.gradB, { atol: 1e-6, rtol: 1e-3, label: "gradB" });
      probe.destroy();
    },
  );
}

/**
 * Adam / AdamW with GPU gradient-norm clipping (core/kernels/optim.ts): against golden trajectories from real
 * PyTorch (tests/fixtures/hp_heads/gen_optim.py) and against the float64 reference on a multi-workgroup
 * buffer; state save/restore continues the same trajectory.
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { type AdamOptions, adamStepRef, adamwHead, prepareAdam } from "../../core/kernels/optim.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

interface GoldenStep {
  params: number[];
  m: number[];
  v: number[];
  norm: number | null;
}
interface GoldenCase {
  name: string;
  params0: number[];
  grads: number[][];
  steps: GoldenStep[];
}
const golden: { cases: GoldenCase[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/hp_heads/optim_golden.json", import.meta.url)),
);

const OPTS: Record<string, AdamOptions> = {
  adamw_clip: adamwHead(5e-4, 0.1, 10),
  adam: { lr: 5e-4 },
};

Deno.test("adamStepRef() (float64, PyTorch doc equations) follows the PyTorch golden trajectories", () => {
  for (const c of golden.cases) {
    let p: ArrayLike<number> = c.params0, m: ArrayLike<number> = new Float64Array(p.length);
    let v: ArrayLike<number> = new Float64Array(p.length);
    c.steps.forEach((want, i) => {
      const r = adamStepRef(OPTS[c.name], i + 1, p, c.grads[i], m, v);
      assertAllClose(r.params, want.params, {
        rtol: 1e-5,
        atol: 1e-7,
        label: `${c.name} step ${i + 1} params`,
      });
      assertAllClose(r.m, want.m, { rtol: 1e-5, atol: 1e-9, label: `${c.name} step ${i + 1} m` });
      assertAllClose(r.v, want.v, { rtol: 1e-5, atol: 1e-12, label: `${c.name} step ${i + 1} v` });
      if (want.norm !== null) assert.ok(Math.abs(r.norm - want.norm) < 1e-4 * want.norm);
      [p, m, v] = [r.params, r.m, r.v];
    });
  }
});

gpuTest(
  "prepareAdam() matches PyTorch AdamW+clip_grad_norm_ and Adam step by step",
  async ({ gpu, arena }) => {
    for (const c of golden.cases) {
      const n = c.params0.length;
      const params = arena.upload(Float32Array.from(c.params0), [n]);
      const grads = arena.tensor([n]);
      const opt = await prepareAdam(gpu, arena, n, { params, grads }, OPTS[c.name], c.name);
      for (let i = 0; i < c.steps.length; i++) {
        grads.write(Float32Array.from(c.grads[i]));
        const rec = new StepRecorder(gpu);
        opt.record(rec);
        rec.submit();
        const want = c.steps[i];
        const label = `${c.name} step ${i + 1}`;
        // f32 arithmetic in both; the remaining differences are last-bit rounding (fma, operation order).
        assertAllClose(await readF32(gpu, params), want.params, {
          rtol: 2e-6,
          atol: 1e-7,
          label: `${label} params`,
        });
        assertAllClose(await readF32(gpu, opt.m), want.m, { rtol: 2e-6, atol: 1e-9, label: `${label} m` });
        assertAllClose(await readF32(gpu, opt.v), want.v, { rtol: 2e-6, atol: 1e-12, label: `${label} v` });
        if (want.norm !== null) {
          const [norm, coef] = await readF32(gpu, opt.gradNorm!);
          assert.ok(Math.abs(norm - want.norm) <= 1e-5 * want.norm, `${label}: norm ${norm} vs ${want.norm}`);
          assert.ok(Math.abs(coef - Math.min(1, 10 / (want.norm + 1e-6))) < 1e-6, `${label}: coef ${coef}`);
        }
      }
      assert.equal(opt.step, c.steps.length);
    }
  },
);

gpuTest(
  "prepareAdam() clips by the global norm of a large buffer and resumes from saved state",
  async (ctx) => {
    const { gpu, arena } = ctx;
    const n = 70001; // 18 norm workgroups, 274 update workgroups
    const p0 = randnF32(n, 1), g1 = randnF32(n, 2, 0.2), g2 = randnF32(n, 3, 0.01);
    const opts = adamwHead();
    const params = arena.upload(p0, [n]), grads = arena.upload(g1, [n]);
    const opt = await prepareAdam(gpu, arena, n, { params, grads }, opts, "head");
    let rec = new StepRecorder(gpu);
    opt.record(rec);
    rec.submit();
    const r1 = adamStepRef(opts, 1, p0, g1, new Float64Array(n), new Float64Array(n));
    assert.ok(r1.coef < 0.3, `test needs an active clip, coef ${r1.coef}`);
    const [norm] = await readF32(gpu, opt.gradNorm!);
    assert.ok(Math.abs(norm - r1.norm) < 1e-5 * r1.norm, `norm ${norm} vs ${r1.norm}`);
    assertAllClose(await readF32(gpu, params), r1.params, {
      rtol: 1e-5,
      atol: 1e-7,
      label: "clipped AdamW step",
    });

    // Save, continue one step; restore into a fresh optimiser and take the same step: identical bits.
    const saved = await opt.readState();
    const pSaved = await readF32(gpu, params);
    grads.write(g2);
    rec = new StepRecorder(gpu);
    opt.record(rec);
    rec.submit();
    const cont = await readF32(gpu, params);
    const params2 = arena.upload(pSaved, [n]);
    const opt2 = await prepareAdam(gpu, arena, n, { params: params2, grads }, opts, "head2");
    opt2.loadState(saved);
    rec = new StepRecorder(gpu);
    opt2.record(rec);
    rec.submit();
    assert.deepEqual(await readF32(gpu, params2), cont);
    assert.equal(opt2.step, 2);
    const r2 = adamStepRef(opts, 2, r1.params, g2, r1.m, r1.v);
    assertAllClose(cont, r2.params, { rtol: 1e-5, atol: 1e-7, label: "second step" });
    assert.throws(
      () => opt2.loadState({ step: 1, m: new Float32Array(3), v: new Float32Array(3) }),
      TypeError,
    );
  },
);

/**
 * LHP weights and mixing (hp-method.md §5.5, §5.9): GPU vs float64 reference on awkward grids (P up to
 * 1600), finite differences of the mixing, and the PyTorch golden chain attention → weights → s̃ → z̃ →
 * L_HP → ds (make_golden.py).
 */
import assert from "node:assert/strict";
import { LhpMix, LhpWeights } from "../../core/model/lhp.ts";
import { HpLoss } from "../../core/model/loss.ts";
import { lhpMixBackwardRef, lhpMixRef, lhpWeightsRef } from "../../core/model/loss_ref.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";
import { loadHpGolden } from "../fixtures/hp/golden.ts";
import { attention } from "./_lhp_attention.ts";

gpuTest(
  "LhpWeights matches the float64 reference (S = 3, 5, 7, 40; P up to 1600)",
  async ({ gpu, arena }) => {
    for (const [B, S] of [[2, 7], [3, 5], [1, 3], [1, 40]]) {
      const a = attention(B, S, 100 + S);
      const attn = arena.upload(a, [B, S * S, S * S], "f32", "attn");
      const w = await LhpWeights.create(gpu, arena, { B, S }, { attn });
      const rec = new StepRecorder(gpu);
      w.record(rec);
      rec.submit();
      const got = await readF32(gpu, w.coef);
      const ref = lhpWeightsRef(a, B, S);
      assertAllClose(got, ref.coef, { rtol: 2e-5, atol: 1e-7, label: `coef B=${B} S=${S}` });
      // Something survived the threshold, and the border rows have zeros outside the grid.
      assert(got.some((v) => v > 0), `all coefficients zero for B=${B} S=${S}`);
      for (let k = 0; k < 3; k++) assert.equal(got[k], 0, "top-left corner has no row above");
      w.destroy();
      attn.destroy();
    }
  },
);

gpuTest("LhpMix forward and backward (accumulating) match the reference", async ({ gpu, arena }) => {
  const B = 3, S = 5, C = 7, N = B * S * S;
  const coefH = lhpWeightsRef(attention(B, S, 7), B, S).coef;
  const coefF = Float32Array.from(coefH);
  const s = randnF32(N * C, 3), g = randnF32(N * C, 4), ds0 = randnF32(N * C, 5);
  const coef = arena.upload(coefF, [N, 9], "f32", "coef");
  const sT = arena.upload(s, [N, C], "f32", "s");
  const gT = arena.upload(g, [N, C], "f32", "dmixed");
  const dsT = arena.upload(ds0, [N, C], "f32", "ds");
  const mix = await LhpMix.create(gpu, arena, { B, S, C }, { coef, s: sT, dmixed: gT, ds: dsT }, {
    accumulateGrad: true,
  });
  const rec = new StepRecorder(gpu);
  mix.recordForward(rec);
  mix.recordBackward(rec);
  rec.submit();
  assertAllClose(await readF32(gpu, mix.mixed), lhpMixRef(coefF, s, B, S, C), {
    rtol: 1e-5,
    atol: 1e-6,
    label: "s̃",
  });
  const want = lhpMixBackwardRef(coefF, g, B, S, C).map((v, k) => v + ds0[k]);
  assertAllClose(await readF32(gpu, dsT), want, { rtol: 1e-5, atol: 1e-6, label: "ds (accumulated)" });
  mix.destroy();
});

Deno.test("lhpMixBackwardRef matches central finite differences of ⟨g, mix(s)⟩", () => {
  const B = 2, S = 4, C = 3, N = B * S * S;
  const coef = lhpWeightsRef(attention(B, S, 9), B, S).coef;
  const s = Float64Array.from(randnF32(N * C, 1)), g = randnF32(N * C, 2);
  const f = () => lhpMixRef(coef, s, B, S, C).reduce((acc, v, k) => acc + v * g[k], 0);
  const h = 1e-6, fd = new Float64Array(N * C);
  for (let k = 0; k < s.length; k++) {
    const v = s[k];
    s[k] = v + h;
    const up = f();
    s[k] = v - h;
    const dn = f();
    s[k] = v;
    fd[k] = (up - dn) / (2 * h);
  }
  assertAllClose(lhpMixBackwardRef(coef, g, B, S, C), fd, { rtol: 1e-6, atol: 1e-8, label: "FD mix" });
});

gpuTest(
  "LHP chain matches the PyTorch golden: attention → weights → s̃ → z̃ → L_HP → ds",
  async ({ gpu, arena }) => {
    const g = loadHpGolden();
    const T = (n: string) => g.tensors[n].data;
    const { B, S, Df, D, K } = g.dims;
    const P = S * S, N = B * P;
    const attn = arena.upload(T("attn"), [B, P, P], "f32", "attn");
    const w = await LhpWeights.create(gpu, arena, { B, S }, { attn }, { sigma: g.params.sigma });
    const sT = arena.upload(T("s"), [N, D], "f32", "s");
    const dmixed = arena.tensor([N, D], "f32", "dmixed");
    const mix = await LhpMix.create(gpu, arena, { B, S, C: D }, { coef: w.coef, s: sT, dmixed });
    let rec = new StepRecorder(gpu);
    w.record(rec);
    mix.recordForward(rec);
    rec.submit();
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const coef = await readF32(gpu, w.coef);
    assertAllClose(coef, T("coef"), { rtol: 1e-5, atol: 1e-7, label: "golden coef" });
    const sMix = await readF32(gpu, mix.mixed);
    // f32 softmax weights times |s| ≈ 3 with cancellation: tolerance relative to the largest |s̃|.
    assertAllClose(sMix, T("s_mix"), { rtol: 1e-5, atol: 2e-5 * maxAbs(T("s_mix")), label: "golden s̃" });
    // z̃ = normalize(s̃) on the CPU (the projection head belongs to another module).
    const norms = new Float64Array(N);
    const zt = new Float32Array(N * D);
    for (let i = 0; i < N; i++) {
      let nn = 0;
      for (let t = 0; t < D; t++) nn += sMix[i * D + t] ** 2;
      norms[i] = Math.sqrt(nn);
      for (let t = 0; t < D; t++) zt[i * D + t] = sMix[i * D + t] / norms[i];
    }
    const up = (a: Float32Array, r: number, c: number, l: string) => arena.upload(a, [r, c], "f32", l);
    const hp = await HpLoss.create(gpu, arena, g.dims, {
      tau: g.params.tau,
      tauBase: g.params.tauBase,
      rho: g.params.rho,
    }, {
      fhat: up(T("fhat"), N, Df, "fhat"),
      shat: up(T("shat"), N, D, "shat"),
      poolAg: up(T("pool_ag"), K, Df, "poolAg"),
      poolSp: up(T("pool_sp"), K, D, "poolSp"),
      z: up(T("z"), N, D, "z"),
      zt: up(zt, N, D, "zt"),
    });
    hp.setStep(g.params.lambda_, g.params.seed);
    rec = new StepRecorder(gpu);
    hp.record(rec);
    rec.submit();
    const stats = await readF32(gpu, hp.stats);
    assertAllClose([stats[0], stats[1]], [g.losses.ghp, g.losses.lhp], {
      rtol: 1e-4,
      atol: 0,
      label: "golden losses",
    });
    const dzt = await readF32(gpu, hp.dzt);
    // Backward through normalize: ds̃ = (dz̃ − z̃⟨z̃, dz̃⟩)/‖s̃‖.
    const dmix = new Float32Array(N * D);
    for (let i = 0; i < N; i++) {
      let dot = 0;
      for (let t = 0; t < D; t++) dot += zt[i * D + t] * dzt[i * D + t];
      for (let t = 0; t < D; t++) dmix[i * D + t] = (dzt[i * D + t] - zt[i * D + t] * dot) / norms[i];
    }
    assertAllClose(dmix, T("ds_mix"), {
      rtol: 1e-4,
      atol: 1e-4 * maxAbs(T("ds_mix")),
      label: "golden dL/ds̃",
    });
    dmixed.write(dmix);
    rec = new StepRecorder(gpu);
    mix.recordBackward(rec);
    rec.submit();
    assertAllClose(await readF32(gpu, mix.ds!), T("ds"), {
      rtol: 1e-4,
      atol: 1e-4 * maxAbs(T("ds")),
      label: "golden dL/ds",
    });
    hp.destroy();
    mix.destroy();
    w.destroy();
  },
);

gpuTest("LhpWeights fills one coef tensor from attention chunks (firstImage)", async ({ gpu, arena }) => {
  const B = 3, S = 6, P = S * S;
  const a = attention(B, S, 40);
  const coef = arena.tensor([B * P, 9], "f32", "coef");
  const chunks = [[0, 2], [2, 1]]; // [first image, images]
  const rec = new StepRecorder(gpu);
  for (const [first, n] of chunks) {
    const attn = arena.upload(a.slice(first * P * P, (first + n) * P * P), [n, P, P], "f32", `attn${first}`);
    (await LhpWeights.create(gpu, arena, { B: n, S }, { attn }, { coef, firstImage: first })).record(rec);
  }
  rec.submit();
  assertAllClose(await readF32(gpu, coef), lhpWeightsRef(a, B, S).coef, {
    rtol: 2e-5,
    atol: 1e-7,
    label: "chunked",
  });
});

/**
 * Tests for the dense CRF (core/eval/crf.ts): permutohedral mean-field against the exact O(N²) mean-field
 * (crf_exact.ts) on small synthetic images, the lattice filter against exact Gaussian filtering, and the
 * worker pool. hp-method.md §8.5.
 * @module
 */
import { deepEqual as assertEquals, ok } from "node:assert/strict";
import { argmaxRows, crfFeatures, denseCrf, HP_CRF } from "../../core/eval/crf.ts";
import { Permutohedral } from "../../core/eval/permutohedral.ts";
import { denseCrfExact } from "../../core/eval/crf_exact.ts";
import { CrfPool } from "../../core/eval/crf_pool.ts";
import { rng } from "../_util.ts";

/** A Voronoi scene: C coloured regions with colour noise, and noisy probabilities favouring the truth. */
function scene(H: number, W: number, C: number, seed: number) {
  const r = rng(seed), N = H * W;
  const centres = Array.from({ length: C }, () => [r() * W, r() * H]);
  const colours = Array.from({ length: C }, () => [r() * 255, r() * 255, r() * 255]);
  const rgb = new Uint8Array(N * 3), probs = new Float32Array(N * C), truth = new Uint8Array(N);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let best = 0, bd = Infinity;
      centres.forEach(([cx, cy], k) => {
        const d = (x - cx) ** 2 + (y - cy) ** 2;
        if (d < bd) [bd, best] = [d, k];
      });
      const i = y * W + x;
      truth[i] = best;
      for (let c = 0; c < 3; c++) {
        rgb[i * 3 + c] = Math.max(0, Math.min(255, colours[best][c] + (r() - 0.5) * 30));
      }
      let s = 0;
      for (let k = 0; k < C; k++) {
        const v = Math.exp((k === best ? 1 : 0) + (r() - 0.5) * 3);
        probs[i * C + k] = v;
        s += v;
      }
      for (let k = 0; k < C; k++) probs[i * C + k] /= s;
    }
  }
  return { rgb, probs, truth };
}

// Tolerance (stated in README "Evaluation"): on every image ≥ 97 % of argmax labels agree with the exact
// mean-field and the mean |ΔQ| ≤ 0.01 — while the unrefined argmax agrees with it on only ~50–60 %.
for (const [H, W, C] of [[24, 24, 4], [32, 28, 5], [36, 36, 6]]) {
  Deno.test(`denseCrf() agrees with the exact O(N²) mean-field on a ${H}×${W} image with ${C} classes`, () => {
    const s = scene(H, W, C, H * 7 + W);
    const q = denseCrf(s.probs, s.rgb, H, W, C);
    const qe = denseCrfExact(s.probs, s.rgb, H, W, C);
    const a = argmaxRows(q, C), b = argmaxRows(qe, C), a0 = argmaxRows(s.probs, C);
    let agree = 0, agree0 = 0, sumD = 0;
    for (let i = 0; i < H * W; i++) {
      if (a[i] === b[i]) agree++;
      if (a0[i] === b[i]) agree0++;
    }
    for (let i = 0; i < q.length; i++) sumD += Math.abs(q[i] - qe[i]);
    const fa = agree / (H * W), fa0 = agree0 / (H * W), meanD = sumD / q.length;
    console.log(
      `  ${H}×${W}: agreement ${(100 * fa).toFixed(2)} % (unrefined ${(100 * fa0).toFixed(2)} %), mean |ΔQ| ${
        meanD.toFixed(5)
      }`,
    );
    ok(fa >= 0.97, `argmax agreement ${fa}`);
    ok(meanD <= 0.01, `mean |ΔQ| ${meanD}`);
    ok(fa0 < 0.8, "the CRF should change the labels substantially on this scene");
  });
}

Deno.test("Permutohedral normalised filtering approximates the exact symmetric-normalised Gaussian filter", () => {
  const H = 20, W = 18, N = H * W, C = 3;
  const s = scene(H, W, C, 5);
  const f = crfFeatures(s.rgb, H, W, HP_CRF);
  const r = rng(9);
  const q = Float32Array.from({ length: N * C }, () => r());
  for (const [feat, d] of [[f.gaussian, 2], [f.bilateral, 5]] as const) {
    const lat = new Permutohedral(feat, N, d);
    const scratch = new Float32Array(2 * (lat.M + 1) * C);
    const norm = new Float32Array(N);
    lat.compute(norm, new Float32Array(N).fill(1), 1, new Float32Array(2 * (lat.M + 1)));
    for (let i = 0; i < N; i++) norm[i] = 1 / Math.sqrt(norm[i]);
    const got = new Float32Array(N * C);
    lat.compute(got, q, C, scratch, norm, norm);
    // exact
    const k = (i: number, j: number) => {
      let t = 0;
      for (let c = 0; c < d; c++) t += (feat[i * d + c] - feat[j * d + c]) ** 2;
      return Math.exp(-0.5 * t);
    };
    const en = new Float64Array(N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) en[i] += k(i, j);
    let err = 0, mag = 0;
    for (let i = 0; i < N; i++) {
      for (let c = 0; c < C; c++) {
        let v = 0;
        for (let j = 0; j < N; j++) v += k(i, j) * q[j * C + c] / Math.sqrt(en[j]);
        v /= Math.sqrt(en[i]);
        err += Math.abs(got[i * C + c] - v);
        mag += Math.abs(v);
      }
    }
    console.log(`  d=${d}: M=${lat.M}, mean relative error ${(err / mag).toFixed(4)}`);
    ok(err / mag < 0.1, `d=${d}: relative L1 error ${err / mag}`);
  }
});

Deno.test("denseCrf() gives the same Q with the WebAssembly SIMD loops as with the JS loops", () => {
  for (const [H, W, C] of [[13, 21, 5], [16, 16, 8], [9, 30, 27]]) {
    const s = scene(H, W, C, 77 + C);
    const qw = denseCrf(s.probs, s.rgb, H, W, C, HP_CRF, "wasm");
    const qj = denseCrf(s.probs, s.rgb, H, W, C, HP_CRF, "js");
    let m = 0;
    for (let i = 0; i < qw.length; i++) m = Math.max(m, Math.abs(qw[i] - qj[i]));
    ok(m < 1e-5, `${H}×${W}×${C}: max |ΔQ| ${m}`);
  }
});

Deno.test("CrfPool refines images in workers with the same labels as denseCrf()", async () => {
  const pool = new CrfPool(2);
  try {
    const jobs = [[16, 20, 3], [12, 12, 4], [20, 9, 2]].map(([H, W, C], i) => ({
      H,
      W,
      C,
      s: scene(H, W, C, 40 + i),
    }));
    const want = jobs.map((j) => argmaxRows(denseCrf(j.s.probs, j.s.rgb, j.H, j.W, j.C), j.C));
    const got = await Promise.all(
      jobs.map((j) => pool.refine(j.s.probs.slice(), j.s.rgb.slice(), j.H, j.W, j.C)),
    );
    got.forEach((g, i) => assertEquals(g, want[i]));
  } finally {
    pool.close();
  }
});

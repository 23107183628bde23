/**
 * HP loss (hp-method.md §5.1–§5.4, §5.7, §5.9): GPU kernels vs the float64 reference on awkward shapes,
 * central finite differences of the reference loss, and the PyTorch golden (make_golden.py).
 */
import assert from "node:assert/strict";
import { HP_AUX, HP_AUX_STRIDE, HP_STATS, HpLoss, type HpLossOptions } from "../../core/model/loss.ts";
import {
  type HpDims,
  hpLossRef,
  type HpMasks,
  hpMasksRef,
  type HpParams,
  thresholdsRef,
} from "../../core/model/loss_ref.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import type { BufferArena } from "../../core/gpu/buffers.ts";
import { assertAllClose, gpuTest, randnF32, rng } from "../_util.ts";
import { partialSlots, sparseChunkRows } from "../../core/model/loss_sparse.ts";
import { loadHpGolden } from "../fixtures/hp/golden.ts";

/** Unit rows drawn around a few centres so that positives exist (as with real features). */
export function clusteredUnit(n: number, d: number, seed: number, centres = 4, noise = 1.1): Float32Array {
  const c = randnF32(centres * d, seed);
  const e = randnF32(n * d, seed + 1);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const k = (i * 7 + (seed % 5)) % centres;
    let nn = 0;
    for (let t = 0; t < d; t++) {
      const v = c[k * d + t] + noise * e[i * d + t];
      out[i * d + t] = v;
      nn += v * v;
    }
    for (let t = 0; t < d; t++) out[i * d + t] /= Math.sqrt(nn);
  }
  return out;
}

interface Problem {
  dims: HpDims;
  params: HpParams;
  lambda: number;
  seed: number;
  fhat: Float32Array;
  shat: Float32Array;
  poolAg: Float32Array;
  poolSp: Float32Array;
  z: Float32Array;
  zt: Float32Array;
  masks: HpMasks;
}

/** A problem whose mask decisions are at least 1e-5 away from their thresholds (f32 takes the same ones). */
function problem(dims: HpDims, params: HpParams, lambda: number, seed0: number): Problem {
  const P = dims.S * dims.S, N = dims.B * P;
  for (let s = seed0; s < seed0 + 200; s += 7) {
    const fhat = clusteredUnit(N, dims.Df, s), shat = clusteredUnit(N, dims.D, s + 1);
    const poolAg = clusteredUnit(dims.K, dims.Df, s + 2), poolSp = clusteredUnit(dims.K, dims.D, s + 3);
    const rAg = thresholdsRef(fhat, poolAg, N, dims.Df, dims.K),
      rSp = thresholdsRef(shat, poolSp, N, dims.D, dims.K);
    const seed = (s * 2654435761) >>> 0;
    const masks = hpMasksRef(dims, fhat, shat, rAg, rSp, seed, params.rho);
    if (masks.margin < 1e-5) continue;
    const z = clusteredUnit(N, dims.D, s + 4, 3, 1.5), zt = clusteredUnit(N, dims.D, s + 5, 3, 2.0);
    return { dims, params, lambda, seed, fhat, shat, poolAg, poolSp, z, zt, masks };
  }
  throw new Error("no unambiguous problem found");
}

/** Both implementations; the sparse one also split into bit-plane chunks of 32 rows. */
const IMPLS: HpLossOptions[] = [{ impl: "dense" }, { impl: "sparse" }, { impl: "sparse", maxChunkRows: 32 }];

async function runGpu(
  gpu: Parameters<typeof HpLoss.create>[0],
  arena: BufferArena,
  p: Problem,
  options: HpLossOptions = {},
) {
  const { dims } = p;
  const N = dims.B * dims.S * dims.S;
  const up = (a: Float32Array, rows: number, cols: number, label: string) =>
    arena.upload(a, [rows, cols], "f32", label);
  const hp = await HpLoss.create(gpu, arena, dims, p.params, {
    fhat: up(p.fhat, N, dims.Df, "fhat"),
    shat: up(p.shat, N, dims.D, "shat"),
    poolAg: up(p.poolAg, dims.K, dims.Df, "poolAg"),
    poolSp: up(p.poolSp, dims.K, dims.D, "poolSp"),
    z: up(p.z, N, dims.D, "z"),
    zt: up(p.zt, N, dims.D, "zt"),
  }, options);
  hp.setStep(p.lambda, p.seed);
  const rec = new StepRecorder(gpu);
  hp.record(rec);
  rec.submit();
  return {
    hp,
    dz: await readF32(gpu, hp.dz),
    dzt: await readF32(gpu, hp.dzt),
    stats: await readF32(gpu, hp.stats),
    aux: await readF32(gpu, hp.aux),
  };
}

function column(aux: Float32Array, slot: number): Float32Array {
  const n = aux.length / HP_AUX_STRIDE;
  return Float32Array.from({ length: n }, (_, i) => aux[i * HP_AUX_STRIDE + slot]);
}

function relTol(ref: ArrayLike<number>, rtol: number): number {
  let mx = 0;
  for (let i = 0; i < ref.length; i++) mx = Math.max(mx, Math.abs(ref[i]));
  return rtol * mx;
}

async function checkAgainstRef(
  ctx: { gpu: Parameters<typeof HpLoss.create>[0]; arena: BufferArena },
  p: Problem,
  options: HpLossOptions = {},
) {
  const { dims } = p;
  const N = dims.B * dims.S * dims.S;
  const got = await runGpu(ctx.gpu, ctx.arena, p, options);
  const ref = hpLossRef(dims, p.params, p.masks, p.lambda, p.z, p.zt);
  const label = `B=${dims.B} S=${dims.S} Df=${dims.Df} D=${dims.D} K=${dims.K} ${JSON.stringify(options)}`;
  assertAllClose(column(got.aux, HP_AUX.rAg), thresholdsRef(p.fhat, p.poolAg, N, dims.Df, dims.K), {
    rtol: 1e-5,
    atol: 1e-6,
    label: `R_ag ${label}`,
  });
  assertAllClose(column(got.aux, HP_AUX.nAg), ref.rows.nAg, { rtol: 0, atol: 0, label: `|P_ag| ${label}` });
  assertAllClose(column(got.aux, HP_AUX.nSp), ref.rows.nSp, { rtol: 0, atol: 0, label: `|P_sp| ${label}` });
  assertAllClose(column(got.aux, HP_AUX.nD), ref.rows.nD, { rtol: 0, atol: 0, label: `|D_i| ${label}` });
  assertAllClose(column(got.aux, HP_AUX.w), ref.rows.w, { rtol: 1e-6, atol: 1e-5, label: `w ${label}` });
  const kept = ref.rows.kept;
  const lse = column(got.aux, HP_AUX.lseZ), lseT = column(got.aux, HP_AUX.lseZt);
  for (let i = 0; i < N; i++) {
    if (!kept[i]) continue;
    assert(
      Math.abs(lse[i] - ref.rows.lseZ[i]) < 2e-5 * (1 + Math.abs(ref.rows.lseZ[i])),
      `lse_z[${i}] ${label}`,
    );
    assert(
      Math.abs(lseT[i] - ref.rows.lseZt[i]) < 2e-5 * (1 + Math.abs(ref.rows.lseZt[i])),
      `lse_zt[${i}] ${label}`,
    );
  }
  assertAllClose([got.stats[HP_STATS.lossGhp], got.stats[HP_STATS.lossLhp]], [ref.lossGhp, ref.lossLhp], {
    rtol: 1e-5,
    atol: 1e-5,
    label: `losses ${label}`,
  });
  const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
  assertAllClose(
    [got.stats[HP_STATS.meanPosAg], got.stats[HP_STATS.meanPosSp], got.stats[HP_STATS.kept]],
    [mean(ref.rows.nAg), mean(ref.rows.nSp), kept.reduce((s, v) => s + v, 0)],
    { rtol: 1e-6, atol: 1e-6, label: `stats ${label}` },
  );
  assertAllClose(got.dz, ref.dz, { rtol: 1e-4, atol: relTol(ref.dz, 2e-5), label: `dz ${label}` });
  assertAllClose(got.dzt, ref.dzt, { rtol: 1e-4, atol: relTol(ref.dzt, 2e-5), label: `dzt ${label}` });
  got.hp.destroy();
  return ref;
}

gpuTest("HpLoss matches the float64 reference (B=2, S=7, Df=24, D=16, K=13, ρ=0.3)", async (ctx) => {
  const p = problem({ B: 2, S: 7, Df: 24, D: 16, K: 13 }, { tau: 0.6, rho: 0.3 }, 0.4, 11);
  for (const o of IMPLS) await checkAgainstRef(ctx, p, o);
});

gpuTest(
  "HpLoss matches the reference on awkward shapes (N=75 and 150, D=20, K=70, λ=0 and 1)",
  async (ctx) => {
    await checkAgainstRef(ctx, problem({ B: 3, S: 5, Df: 19, D: 20, K: 70 }, { tau: 0.4, rho: 0.15 }, 0, 23));
    await checkAgainstRef(
      ctx,
      problem({ B: 6, S: 5, Df: 33, D: 8, K: 5 }, { tau: 0.8, tauBase: 0.1, rho: 1 }, 1, 31),
    );
  },
);

gpuTest("HpLoss guards an image with no kept anchor (contributes 0, not NaN)", async (ctx) => {
  // Image 1's features are orthogonal to everything and the pool contains them: no positives there.
  const dims = { B: 2, S: 4, Df: 24, D: 16, K: 13 };
  const p = problem(dims, { tau: 0.6, rho: 0.3 }, 0.5, 5);
  const P = 16;
  for (let i = P; i < 2 * P; i++) {
    p.fhat.fill(0, i * dims.Df, (i + 1) * dims.Df);
    p.fhat[i * dims.Df] = -1; // all image-1 rows equal and anti-aligned with the pool's first row
  }
  p.poolAg.fill(0, 0, dims.Df);
  p.poolAg[0] = -1; // R^ag = 1 for image-1 rows: c = 1 is not > 1, so no positive among them
  for (let i = 0; i < P; i++) p.fhat[i * dims.Df] = Math.min(p.fhat[i * dims.Df], 0.5); // keep image 0 away
  const N = 32;
  const rAg = thresholdsRef(p.fhat, p.poolAg, N, dims.Df, dims.K);
  const rSp = thresholdsRef(p.shat, p.poolSp, N, dims.D, dims.K);
  p.masks = hpMasksRef(dims, p.fhat, p.shat, rAg, rSp, p.seed, p.params.rho);
  const ref = hpLossRef(dims, p.params, p.masks, p.lambda, p.z, p.zt);
  assert.equal(ref.rows.kept.subarray(P).reduce((s, v) => s + v, 0), 0, "image 1 should have no kept anchor");
  for (const o of IMPLS.slice(0, 2)) {
    const got = await runGpu(ctx.gpu, ctx.arena, p, o);
    assert.equal(got.stats[HP_STATS.emptyImages], 1);
    assert(Number.isFinite(got.stats[HP_STATS.lossGhp]) && Number.isFinite(got.stats[HP_STATS.lossLhp]));
    assertAllClose([got.stats[HP_STATS.lossGhp], got.stats[HP_STATS.lossLhp]], [ref.lossGhp, ref.lossLhp], {
      rtol: 1e-5,
      atol: 1e-5,
    });
    assertAllClose(got.dz, ref.dz, {
      rtol: 1e-4,
      atol: relTol(ref.dz, 2e-5),
      label: `dz, empty image, ${o.impl}`,
    });
    got.hp.destroy();
  }
});

Deno.test("hpLossRef gradients match central finite differences (float64)", () => {
  const dims = { B: 2, S: 3, Df: 8, D: 6, K: 5 };
  const p = problem(dims, { tau: 0.5, rho: 0.4 }, 0.3, 3);
  const z = Float64Array.from(p.z), zt = Float64Array.from(p.zt);
  const ref = hpLossRef(dims, p.params, p.masks, p.lambda, z, zt);
  const total = (a: Float64Array, b: Float64Array) => {
    const r = hpLossRef(dims, p.params, p.masks, p.lambda, a, b);
    return r.lossGhp + r.lossLhp;
  };
  const h = 1e-6;
  for (const [which, x, g] of [["z", z, ref.dz], ["zt", zt, ref.dzt]] as const) {
    const fd = new Float64Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const v = x[k];
      x[k] = v + h;
      const up = which === "z" ? total(x, zt) : total(z, x);
      x[k] = v - h;
      const dn = which === "z" ? total(x, zt) : total(z, x);
      x[k] = v;
      fd[k] = (up - dn) / (2 * h);
    }
    assertAllClose(g, fd, { rtol: 1e-6, atol: 1e-7, label: `FD d/d${which}` });
  }
});

gpuTest(
  "HpLoss matches the PyTorch golden (make_golden.py): losses and gradients within 1e-4",
  async (ctx) => {
    const g = loadHpGolden();
    const T = (n: string) => g.tensors[n].data;
    const dims = g.dims;
    const N = dims.B * dims.S * dims.S;
    const params = { tau: g.params.tau, tauBase: g.params.tauBase, rho: g.params.rho };
    const rAg = thresholdsRef(T("fhat"), T("pool_ag"), N, dims.Df, dims.K);
    const rSp = thresholdsRef(T("shat"), T("pool_sp"), N, dims.D, dims.K);
    const masks = hpMasksRef(dims, T("fhat"), T("shat"), rAg, rSp, g.params.seed, g.params.rho);
    const p: Problem = {
      dims,
      params,
      lambda: g.params.lambda_,
      seed: g.params.seed,
      fhat: T("fhat"),
      shat: T("shat"),
      poolAg: T("pool_ag"),
      poolSp: T("pool_sp"),
      z: T("z"),
      zt: T("zt"),
      masks,
    };
    const got = await runGpu(ctx.gpu, ctx.arena, p);
    assertAllClose(column(got.aux, HP_AUX.nAg), T("n_ag"), { rtol: 0, atol: 0, label: "golden |P_ag|" });
    assertAllClose(column(got.aux, HP_AUX.nSp), T("n_sp"), { rtol: 0, atol: 0, label: "golden |P_sp|" });
    assertAllClose([got.stats[HP_STATS.lossGhp], got.stats[HP_STATS.lossLhp]], [g.losses.ghp, g.losses.lhp], {
      rtol: 1e-4,
      atol: 0,
      label: "golden losses",
    });
    assertAllClose(got.dz, T("dz"), { rtol: 1e-4, atol: relTol(T("dz"), 1e-4), label: "golden dL/dz" });
    assertAllClose(got.dzt, T("dzt"), { rtol: 1e-4, atol: relTol(T("dzt"), 1e-4), label: "golden dL/dz̃" });
    got.hp.destroy();
  },
);

gpuTest("HpLoss is deterministic and the seed changes the negatives", async (ctx) => {
  const p = problem({ B: 2, S: 5, Df: 24, D: 16, K: 13 }, { tau: 0.6, rho: 0.3 }, 0.4, 61);
  const a = await runGpu(ctx.gpu, ctx.arena, p);
  const b = await runGpu(ctx.gpu, ctx.arena, p);
  assert.deepEqual(b.dz, a.dz, "dz differs between identical runs");
  assert.deepEqual(b.stats, a.stats, "stats differ between identical runs");
  const c = await runGpu(ctx.gpu, ctx.arena, { ...p, seed: p.seed + 1 });
  assert.notDeepEqual(column(c.aux, HP_AUX.nD), column(a.aux, HP_AUX.nD), "a new seed should redraw U");
  for (const r of [a, b, c]) r.hp.destroy();
});

gpuTest("HpLoss.create rejects bad shapes naming the tensor or value", async ({ gpu, arena }) => {
  const t = (r: number, c: number, l: string) => arena.tensor([r, c], "f32", l);
  const dims = { B: 1, S: 4, Df: 8, D: 8, K: 3 };
  const ok = {
    fhat: t(16, 8, "f"),
    shat: t(16, 8, "s"),
    poolAg: t(3, 8, "pa"),
    poolSp: t(3, 8, "ps"),
    z: t(16, 8, "z"),
  };
  await assert.rejects(
    HpLoss.create(gpu, arena, dims, { tau: 0.5, rho: 0.1 }, { ...ok, zt: t(15, 8, "zt-short") }),
    /zt "zt-short" has 120 elements/,
  );
  await assert.rejects(
    HpLoss.create(gpu, arena, { ...dims, D: 6 }, { tau: 0.5, rho: 0.1 }, { ...ok, zt: t(16, 8, "zt") }),
    /D = 6 must be a multiple of 4/,
  );
  await assert.rejects(
    HpLoss.create(gpu, arena, dims, { tau: 0, rho: 0.1 }, { ...ok, zt: t(16, 8, "zt") }),
    /tau > 0/,
  );
});

gpuTest(
  "HpLoss auto picks the sparse path for small ρ and the dense one for large ρ",
  async ({ gpu, arena }) => {
    const t = (r: number, c: number, l: string) => arena.tensor([r, c], "f32", l);
    const dims = { B: 1, S: 4, Df: 8, D: 8, K: 3 };
    const inputs = { fhat: t(16, 8, "f"), shat: t(16, 8, "s"), poolAg: t(3, 8, "pa"), poolSp: t(3, 8, "ps") };
    const mk = (rho: number, o: HpLossOptions = {}) =>
      HpLoss.create(
        gpu,
        arena,
        dims,
        { tau: 0.5, rho },
        { ...inputs, z: t(16, 8, "z"), zt: t(16, 8, "zt") },
        o,
      );
    assert.equal((await mk(0.02)).impl, "sparse");
    assert.equal((await mk(1)).impl, "dense");
    assert.equal((await mk(1, { impl: "sparse" })).impl, "sparse");
    assert.equal((await mk(0.02, { impl: "dense" })).impl, "dense");
  },
);

/** Rows with entries k/8, k ∈ {−3..3}: every dot product is exact in f32, so masks match bit for bit. */
function exactRows(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n * d }, () => (Math.floor(r() * 7) - 3) / 8);
}

gpuTest(
  "HpLoss sparse path over several gather rounds and chunks (N = 2187) matches the reference",
  async (ctx) => {
    const dims = { B: 3, S: 27, Df: 8, D: 8, K: 5 };
    const N = dims.B * dims.S * dims.S;
    const params = { tau: 0.5, rho: 0.02 };
    const fhat = exactRows(N, dims.Df, 1), shat = exactRows(N, dims.D, 2);
    const poolAg = exactRows(dims.K, dims.Df, 3), poolSp = exactRows(dims.K, dims.D, 4);
    const rAg = thresholdsRef(fhat, poolAg, N, dims.Df, dims.K),
      rSp = thresholdsRef(shat, poolSp, N, dims.D, dims.K);
    const seed = 987654321;
    const masks = hpMasksRef(dims, fhat, shat, rAg, rSp, seed, params.rho);
    const z = clusteredUnit(N, dims.D, 5, 3, 1.5), zt = clusteredUnit(N, dims.D, 6, 3, 2.0);
    const p: Problem = { dims, params, lambda: 0.7, seed, fhat, shat, poolAg, poolSp, z, zt, masks };
    const ref = hpLossRef(dims, params, masks, p.lambda, z, zt);
    for (const o of [{ impl: "sparse" }, { impl: "sparse", maxChunkRows: 1000 }] as HpLossOptions[]) {
      const got = await runGpu(ctx.gpu, ctx.arena, p, o);
      const label = JSON.stringify(o);
      assertAllClose(column(got.aux, HP_AUX.nAg), ref.rows.nAg, {
        rtol: 0,
        atol: 0,
        label: `|P_ag| ${label}`,
      });
      assertAllClose(column(got.aux, HP_AUX.nD), ref.rows.nD, { rtol: 0, atol: 0, label: `|D_i| ${label}` });
      assertAllClose([got.stats[HP_STATS.lossGhp], got.stats[HP_STATS.lossLhp]], [ref.lossGhp, ref.lossLhp], {
        rtol: 1e-5,
        atol: 1e-5,
        label: `losses ${label}`,
      });
      assertAllClose(got.dz, ref.dz, { rtol: 1e-4, atol: relTol(ref.dz, 2e-5), label: `dz ${label}` });
      assertAllClose(got.dzt, ref.dzt, { rtol: 1e-4, atol: relTol(ref.dzt, 2e-5), label: `dzt ${label}` });
      got.hp.destroy();
    }
  },
);

/**
 * P = 9, N = 594, ρ = 0.2: |U_r| ≈ 119 columns per grid position, Σ_r |U_r| ≈ 1,069 partial slots. Mask
 * inputs with exact f32 (and f16) dot products, so every precision takes the float64 mask decisions.
 */
function groupedProblem(): Problem {
  const dims = { B: 66, S: 3, Df: 12, D: 12, K: 7 };
  const N = dims.B * dims.S * dims.S;
  const params = { tau: 0.5, rho: 0.2 };
  const fhat = exactRows(N, dims.Df, 11), shat = exactRows(N, dims.D, 12);
  const poolAg = exactRows(dims.K, dims.Df, 13), poolSp = exactRows(dims.K, dims.D, 14);
  const seed = 4242;
  const masks = hpMasksRef(
    dims,
    fhat,
    shat,
    thresholdsRef(fhat, poolAg, N, dims.Df, dims.K),
    thresholdsRef(shat, poolSp, N, dims.D, dims.K),
    seed,
    params.rho,
  );
  const z = clusteredUnit(N, dims.D, 15, 3, 1.5), zt = clusteredUnit(N, dims.D, 16, 3, 2.0);
  return { dims, params, lambda: 0.6, seed, fhat, shat, poolAg, poolSp, z, zt, masks };
}

gpuTest(
  "HpLoss grouped negatives: B = 66 (two anchor tiles), |U_r| > 64 (two column tiles), overflowing partial slots",
  async (ctx) => {
    const p = groupedProblem();
    for (
      const o of [
        { impl: "sparse" },
        { impl: "sparse", maxPartialSlots: 300 }, // most pairs recomputed by their owner
        { impl: "sparse", maxPartialSlots: 900, maxChunkRows: 200 }, // and three bit-plane chunks
      ] as HpLossOptions[]
    ) await checkAgainstRef(ctx, p, o);
  },
);

Deno.test("sparseChunkRows keeps all N rows in one chunk when they fit; partialSlots bounds", () => {
  // 3,136 rows (B 4, S 28) fit one chunk: rounding them to the 128-row tile split them in two before.
  assert.equal(sparseChunkRows(3136, 2 ** 30), 3136);
  assert.equal(sparseChunkRows(50176, 2 ** 31 - 4), 50176);
  const rows = sparseChunkRows(50176, 2 ** 27); // lavapipe's 128 MiB binding
  assert(rows % 128 === 0 && rows * Math.ceil(50176 / 32) * 4 <= 2 ** 27 && rows > 0, `${rows}`);
  assert.equal(sparseChunkRows(2187, 2 ** 30, 1000), 896);
  // Σ_r |U_r| ~ Binomial(P·N, ρ): mean + 10σ (+64), at most P·N, at most what the binding limit holds.
  const mean = 0.02 * 784 * 50176;
  const s = partialSlots(784, 50176, 512, 64, 0.02, 2 ** 31 - 4);
  assert(s >= mean + 10 * Math.sqrt(mean) && s < mean * 1.02, `${s}`);
  assert.equal(partialSlots(9, 594, 12, 66, 1, 2 ** 31), 9 * 594);
  assert.equal(partialSlots(784, 50176, 512, 64, 0.02, 2 ** 27), 2 ** 27 / (512 * 4));
  assert.equal(partialSlots(784, 50176, 512, 130, 0.02, 2 ** 27), Math.floor(2 ** 27 / (3 * 512 * 4)));
});

gpuTest("HpLoss mask precision f16: exact inputs give the f32 masks, loss and gradients", async (ctx) => {
  if (!ctx.gpu.hasF16) return console.error("[tests] skipped: adapter without shader-f16");
  await checkAgainstRef(ctx, groupedProblem(), { impl: "sparse", maskPrecision: "f16" });
});

gpuTest(
  "HpLoss mask precision f16: thresholds are those of the f16-rounded inputs (odd sizes)",
  async (ctx) => {
    if (!ctx.gpu.hasF16) return console.error("[tests] skipped: adapter without shader-f16");
    const p = problem({ B: 3, S: 5, Df: 19, D: 20, K: 70 }, { tau: 0.4, rho: 0.15 }, 0.3, 23);
    const N = 75;
    const got = await runGpu(ctx.gpu, ctx.arena, p, { impl: "sparse", maskPrecision: "f16" });
    const half = (a: Float32Array) => a.map((v) => Math.f16round(v));
    const rAg = thresholdsRef(half(p.fhat), half(p.poolAg), N, 19, 70);
    const rSp = thresholdsRef(half(p.shat), half(p.poolSp), N, 20, 70);
    assertAllClose(column(got.aux, HP_AUX.rAg), rAg, { rtol: 1e-6, atol: 1e-6, label: "R_ag of f16 inputs" });
    assertAllClose(column(got.aux, HP_AUX.rSp), rSp, { rtol: 1e-6, atol: 1e-6, label: "R_sp of f16 inputs" });
    // And not those of the f32 inputs (the rounding is real at these sizes).
    const rAg32 = thresholdsRef(p.fhat, p.poolAg, N, 19, 70);
    assert(rAg.some((v, i) => Math.abs(v - rAg32[i]) > 1e-5), "f16 rounding should move some thresholds");
    assert.equal(got.hp.maskPlanes.length, 2);
    got.hp.destroy();
    await assert.rejects(
      runGpu(ctx.gpu, ctx.arena, p, { impl: "dense", maskPrecision: "f16" }),
      /mask precision f16 needs the sparse loss path/,
    );
  },
);

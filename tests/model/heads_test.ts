/**
 * Segmentation head θ / EMA head ξ (core/model/heads.ts): GPU against float64 references on shapes that are
 * not tile multiples, and central finite differences for the head backward. (Their Dropout2d and EMA update
 * kernels are tested in tests/kernels/.)
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { Rng } from "../../core/rng.ts";
import {
  headBackwardRef,
  type HeadDims,
  headForwardRef,
  type HeadMode,
  type HeadSeeds,
  prepareHeadBackward,
  prepareHeadForward,
} from "../../core/model/heads.ts";
import { dropoutKeep } from "../../core/kernels/dropout.ts";
import { headLayout } from "../../core/model/params.ts";
import { assertAllClose, gpuTest, type GpuTestContext, randnF32 } from "../_util.ts";

function gemmTol(K: number): number {
  return 3e-5 * Math.sqrt(K) + 1e-5;
}

async function runForward(
  ctx: GpuTestContext,
  dims: HeadDims,
  mode: HeadMode,
  seeds: HeadSeeds,
  params: Float32Array,
  F: Float32Array,
) {
  const { gpu, arena } = ctx;
  const tp = arena.upload(params, [params.length], "f32", "params");
  const tf = arena.upload(F, [dims.rows, dims.Df], "f32", "features");
  const scratch = arena.tensor([dims.rows, dims.Df], "f32", "scratch");
  const site = await prepareHeadForward(gpu, arena, dims, mode, { params: tp, features: tf, scratch });
  site.setSeeds(seeds);
  const rec = new StepRecorder(gpu);
  site.record(rec);
  rec.submit();
  return {
    site,
    tp,
    tf,
    scratch,
    code: await readF32(gpu, site.code),
    hidden: await readF32(gpu, site.hidden),
  };
}

const SHAPES: HeadDims[] = [
  { rows: 17, Df: 24, D: 16, P: 5 },
  { rows: 197, Df: 24, D: 16, P: 49 },
  { rows: 5, Df: 384, D: 512, P: 2 },
];

gpuTest("prepareHeadForward() matches the float64 reference in train, eval and ema modes", async (ctx) => {
  const rng = new Rng(5);
  for (const dims of SHAPES) {
    const params = headLayout(dims.Df, dims.D).init(rng);
    const F = randnF32(dims.rows * dims.Df, dims.rows);
    for (const mode of ["train", "eval", "ema"] as const) {
      const seeds: HeadSeeds = { a: 101, b: 202, out: mode === "ema" ? 303 : undefined };
      const got = await runForward(ctx, dims, mode, seeds, params, F);
      const want = headForwardRef(dims, params, F, mode === "eval" ? null : seeds);
      const tol = gemmTol(2 * dims.Df);
      assertAllClose(got.hidden, want.hidden, {
        rtol: tol,
        atol: tol,
        label: `${mode} H ${JSON.stringify(dims)}`,
      });
      assertAllClose(got.code, want.code, {
        rtol: tol,
        atol: tol,
        label: `${mode} code ${JSON.stringify(dims)}`,
      });
    }
  }
});

gpuTest("prepareHeadBackward() matches the float64 reference and accumulates", async (ctx) => {
  const { gpu, arena } = ctx;
  const rng = new Rng(9);
  for (const dims of SHAPES) {
    const L = headLayout(dims.Df, dims.D);
    const params = L.init(rng);
    const F = randnF32(dims.rows * dims.Df, 7 + dims.rows);
    const dCode = randnF32(dims.rows * dims.D, 11 + dims.rows);
    const seeds = { a: 0x1234, b: 0x5678 };
    const { site } = await runForward(ctx, dims, "train", seeds, params, F);
    const tdc = arena.upload(dCode, [dims.rows, dims.D], "f32", "dCode");
    const grads = arena.upload(new Float32Array(L.total).fill(7), [L.total], "f32", "grads");
    const bwd = await prepareHeadBackward(gpu, arena, site, { dCode: tdc, grads }, false);
    // The accumulating instance forces split-K (3 row slices plus a remainder) to test that path too.
    const bwdAcc = await prepareHeadBackward(gpu, arena, site, { dCode: tdc, grads }, true, 3);
    const want = headBackwardRef(dims, params, F, seeds, dCode);
    const tol = gemmTol(dims.rows) * 4;
    const rec = new StepRecorder(gpu);
    site.record(rec);
    bwd.record(rec);
    rec.submit();
    const got = await readF32(gpu, grads);
    for (const s of L.segments) {
      assertAllClose(L.slice(got, s.name), want.subarray(s.offset, s.offset + s.size), {
        rtol: tol,
        atol: tol,
        label: `d${s.name} ${JSON.stringify(dims)}`,
      });
    }
    // Accumulate: a second forward + backward adds the same gradient again.
    const rec2 = new StepRecorder(gpu);
    site.record(rec2);
    bwdAcc.record(rec2);
    rec2.submit();
    const got2 = await readF32(gpu, grads);
    for (const s of L.segments) {
      assertAllClose(
        L.slice(got2, s.name),
        Array.from(want.subarray(s.offset, s.offset + s.size), (v) => 2 * v),
        { rtol: 2 * tol, atol: 2 * tol, label: `accumulated split-K d${s.name} ${JSON.stringify(dims)}` },
      );
    }
  }
});

Deno.test("headBackwardRef() agrees with central finite differences of headForwardRef()", () => {
  const dims: HeadDims = { rows: 6, Df: 5, D: 4, P: 3 };
  const L = headLayout(dims.Df, dims.D);
  const params = Float64Array.from(L.init(new Rng(3)));
  const F = Float64Array.from(randnF32(dims.rows * dims.Df, 2));
  const R = Float64Array.from(randnF32(dims.rows * dims.D, 4));
  // The first seeds (a search, deterministic) for which both draws drop some channel, so the check covers masks.
  const dropsSome = (seed: number) => {
    for (let b = 0; b < 2; b++) {
      for (let c = 0; c < dims.Df; c++) if (!dropoutKeep(seed, b, dims.Df, c)) return true;
    }
    return false;
  };
  let a = 1;
  while (!dropsSome(a)) a++;
  let bSeed = a + 1;
  while (!dropsSome(bSeed)) bSeed++;
  const seeds = { a, b: bSeed };
  const loss = (p: Float64Array) => {
    const { code } = headForwardRef(dims, p, F, seeds);
    let s = 0;
    for (let i = 0; i < code.length; i++) s += code[i] * R[i];
    return s;
  };
  const g = headBackwardRef(dims, params, F, seeds, R);
  const h = 1e-6;
  for (const seg of L.segments) {
    for (let i = 0; i < seg.size; i++) {
      const k = seg.offset + i;
      const p = params.slice();
      p[k] += h;
      const lp = loss(p);
      p[k] -= 2 * h;
      const fd = (lp - loss(p)) / (2 * h);
      assert.ok(Math.abs(fd - g[k]) <= 1e-6 + 1e-6 * Math.abs(fd), `${seg.name}[${i}]: fd ${fd} vs ${g[k]}`);
    }
  }
});

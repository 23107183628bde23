/**
 * One full optimisation step through the GPU modules (core/model/modules.ts) against a float64 composition of
 * the references: θ forward (train) → ξ forward (ema) → EMA update → projection → toy loss ½‖z − t‖² →
 * projection and head backwards → AdamW(+clip) / Adam. Checks the step order contract (ξ uses pre-step θ)
 * and the state round trip used by checkpoints.
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { Rng } from "../../core/rng.ts";
import { loadConfig } from "../../core/model/config.ts";
import { createHpModules } from "../../core/model/modules.ts";
import {
  headBackwardRef,
  headForwardRef,
  prepareHeadBackward,
  prepareHeadForward,
} from "../../core/model/heads.ts";
import {
  prepareProjectionBackward,
  prepareProjectionForward,
  projectionBackwardRef,
  projectionForwardRef,
} from "../../core/model/projection.ts";
import { adamStepRef } from "../../core/kernels/optim.ts";
import { emaUpdateRef } from "../../core/kernels/ema.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

gpuTest(
  "HpModules: one step (forwards, EMA, backwards, optimisers) matches the float64 composition",
  async (ctx) => {
    const { gpu, arena } = ctx;
    const cfg = loadConfig("synthetic", ["head.dim=16", "hp.ema_momentum=0.9", "train.clip=0.05"]);
    const rows = 17, Df = 24, D = 16, P = 6;
    const mods = await createHpModules(gpu, arena, cfg, Df, new Rng(0));
    const theta0 = await readF32(gpu, mods.head), proj0 = await readF32(gpu, mods.proj);
    assert.deepEqual(await readF32(gpu, mods.ema), theta0, "ξ starts as a copy of θ");

    const F = randnF32(rows * Df, 1), target = randnF32(rows * D, 2);
    const features = arena.upload(F, [rows, Df]);
    const scratch = arena.tensor([rows, Df]);
    const dims = { rows, Df, D, P };
    const theta = await prepareHeadForward(gpu, arena, dims, "train", {
      params: mods.head,
      features,
      scratch,
    });
    const xi = await prepareHeadForward(gpu, arena, dims, "ema", { params: mods.ema, features, scratch });
    const proj = await prepareProjectionForward(gpu, arena, rows, D, { params: mods.proj, s: theta.code });
    // Toy loss ½‖z − t‖², ∂/∂z = z − t, computed on the host between two submits (the real loss is on the GPU).
    const dz = arena.tensor([rows, D]), ds = arena.tensor([rows, D]);
    const pb = await prepareProjectionBackward(gpu, arena, proj, {
      dz,
      grads: mods.projGrads,
      accumulateGrads: false,
      ds,
    });
    const hb = await prepareHeadBackward(gpu, arena, theta, { dCode: ds, grads: mods.headGrads }, false);
    const seeds = theta.drawSeeds(new Rng(5));
    const emaSeeds = xi.drawSeeds(new Rng(6));

    // Pass 1: forwards, then read z to build dz on the host (tests only; the trainer's loss does this on GPU).
    let rec = new StepRecorder(gpu);
    theta.record(rec);
    xi.record(rec);
    proj.record(rec);
    rec.submit();
    const z = await readF32(gpu, proj.z);
    const xiCode = await readF32(gpu, xi.code);
    dz.write(z.map((v, i) => v - target[i]));
    // Pass 2: the rest of the step, in the documented order (θ forward again: the backward needs its H).
    rec = new StepRecorder(gpu);
    theta.record(rec);
    mods.recordEmaUpdate(rec);
    pb.record(rec);
    hb.record(rec);
    mods.recordOptimSteps(rec);
    rec.submit();

    // Float64 composition.
    const s = headForwardRef(dims, theta0, F, seeds).code;
    const tol = 2e-4;
    assertAllClose(xiCode, headForwardRef(dims, theta0, F, emaSeeds).code, {
      rtol: tol,
      atol: tol,
      label: "ξ code",
    });
    const zRef = projectionForwardRef(rows, D, proj0, s).z;
    assertAllClose(z, zRef, { rtol: tol, atol: tol, label: "z" });
    const dzRef = Float64Array.from(zRef, (v, i) => v - target[i]);
    const pRef = projectionBackwardRef(rows, D, proj0, s, dzRef);
    const gTheta = headBackwardRef(dims, theta0, F, seeds, pRef.ds);
    const zeros = (n: number) => new Float64Array(n);
    const thetaRef = adamStepRef(
      { lr: cfg.train.lr, weightDecay: cfg.train.weight_decay, decoupled: true, maxGradNorm: 0.05 },
      1,
      theta0,
      gTheta,
      zeros(theta0.length),
      zeros(theta0.length),
    );
    assert.ok(thetaRef.coef < 1, `clip inactive (norm ${thetaRef.norm})`);
    const projRef = adamStepRef(
      { lr: cfg.train.proj_lr },
      1,
      proj0,
      pRef.grads,
      zeros(proj0.length),
      zeros(proj0.length),
    );
    assertAllClose(await readF32(gpu, mods.head), thetaRef.params, {
      rtol: 1e-4,
      atol: 2e-6,
      label: "θ after step",
    });
    assertAllClose(await readF32(gpu, mods.proj), projRef.params, {
      rtol: 1e-4,
      atol: 2e-6,
      label: "projection after step",
    });
    assertAllClose(await readF32(gpu, mods.ema), emaUpdateRef(theta0, theta0, 0.9), {
      rtol: 1e-6,
      atol: 1e-7,
      label: "ξ (pre-step θ)",
    });
    const [norm] = await readF32(gpu, mods.headOpt.gradNorm!);
    assert.ok(Math.abs(norm - thetaRef.norm) < 1e-3 * thetaRef.norm, `grad norm ${norm} vs ${thetaRef.norm}`);

    // State round trip.
    const st = await mods.readState();
    assert.equal(st.optim.head.step, 1);
    const mods2 = await createHpModules(gpu, arena, cfg, Df, new Rng(1));
    mods2.loadState(st);
    assert.deepEqual(await readF32(gpu, mods2.head), st.head);
    assert.equal(mods2.headOpt.step, 1);
    assert.throws(() => mods2.loadState({ ...st, head: new Float32Array(3) }), TypeError);
  },
);

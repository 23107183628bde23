/**
 * Segmentation head (train / eval / ema) and projection head against golden numbers from real PyTorch
 * modules (tests/fixtures/hp_heads/gen_heads.py rebuilds hpseg's hash-based Dropout2d masks in Python), so
 * weight layout, bias handling, mask placement and the normalise backward are checked against torch itself.
 */
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import {
  headBackwardRef,
  headForwardRef,
  prepareHeadBackward,
  prepareHeadForward,
} from "../../core/model/heads.ts";
import { headLayout, PROJECTION_KEYS, projectionLayout } from "../../core/model/params.ts";
import {
  prepareProjectionBackward,
  prepareProjectionForward,
  projectionBackwardRef,
  projectionForwardRef,
} from "../../core/model/projection.ts";
import { dropoutKeep } from "../../core/kernels/dropout.ts";
import { assertAllClose, gpuTest } from "../_util.ts";
import assert from "node:assert/strict";

const G = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/hp_heads/heads_golden.json", import.meta.url)),
);
const dims = { rows: G.B * G.S * G.S, Df: G.Df, D: G.D, P: G.S * G.S };
const L = headLayout(G.Df, G.D);
const params = L.fromTensors((k) => G.params[k]);
const F = Float32Array.from(G.features);
const R = Float32Array.from(G.R);
const TOL = { rtol: 1e-4, atol: 1e-5 };

Deno.test("headForwardRef()/headBackwardRef() reproduce PyTorch's Conv2d head with the same masks", () => {
  const seeds = { a: G.seeds.a, b: G.seeds.b };
  for (const seed of [seeds.a, seeds.b]) {
    let dropped = 0;
    for (let b = 0; b < G.B; b++) {
      for (let c = 0; c < G.Df; c++) if (!dropoutKeep(seed, b, G.Df, c)) dropped++;
    }
    assert.ok(dropped > 0, `seed ${seed} drops no channel: the golden would not exercise the masks`);
  }
  assertAllClose(headForwardRef(dims, params, F, seeds).code, G.code, { ...TOL, label: "code" });
  assertAllClose(headForwardRef(dims, params, F, null).code, G.eval_code, { ...TOL, label: "eval code" });
  assertAllClose(headForwardRef(dims, params, F, { ...seeds, out: G.seeds.out }).code, G.ema_code, {
    ...TOL,
    label: "ema code",
  });
  const g = headBackwardRef(dims, params, F, seeds, R);
  for (const s of L.segments) {
    assertAllClose(g.subarray(s.offset, s.offset + s.size), G.grads[s.name], { ...TOL, label: `d${s.name}` });
  }
});

gpuTest("GPU head forward (train, eval, ema) and backward match PyTorch", async ({ gpu, arena }) => {
  const tp = arena.upload(params, [L.total]);
  const tf = arena.upload(F, [dims.rows, dims.Df]);
  const scratch = arena.tensor([dims.rows, dims.Df]);
  const train = await prepareHeadForward(gpu, arena, dims, "train", { params: tp, features: tf, scratch });
  const evalSite = await prepareHeadForward(gpu, arena, dims, "eval", { params: tp, features: tf });
  const ema = await prepareHeadForward(gpu, arena, dims, "ema", { params: tp, features: tf, scratch });
  train.setSeeds(G.seeds);
  ema.setSeeds(G.seeds);
  const grads = arena.tensor([L.total]);
  const bwd = await prepareHeadBackward(gpu, arena, train, {
    dCode: arena.upload(R, [dims.rows, dims.D]),
    grads,
  }, false);
  const rec = new StepRecorder(gpu);
  evalSite.record(rec);
  ema.record(rec);
  train.record(rec);
  const code = arena.tensor([dims.rows, dims.D]);
  rec.copy(train.code, code);
  bwd.record(rec);
  rec.submit();
  assertAllClose(await readF32(gpu, code), G.code, { ...TOL, label: "code" });
  assertAllClose(await readF32(gpu, evalSite.code), G.eval_code, { ...TOL, label: "eval code" });
  assertAllClose(await readF32(gpu, ema.code), G.ema_code, { ...TOL, label: "ema code" });
  const got = await readF32(gpu, grads);
  for (const s of L.segments) {
    assertAllClose(L.slice(got, s.name), G.grads[s.name], { ...TOL, label: `d${s.name}` });
  }
});

gpuTest("projection head forward and backward match PyTorch Linear + F.normalize", async ({ gpu, arena }) => {
  const P = G.projection, D = G.D, rows = dims.rows;
  const PL = projectionLayout(D);
  const pp = PL.fromTensors((k) => (k === PROJECTION_KEYS.w ? P.weight : P.bias));
  const s = Float32Array.from(P.s), r = Float32Array.from(P.R);
  const ref = projectionBackwardRef(rows, D, pp, s, r);
  assertAllClose(projectionForwardRef(rows, D, pp, s).z, P.z, { ...TOL, label: "ref z" });
  assertAllClose(PL.slice(Float32Array.from(ref.grads), PROJECTION_KEYS.w), P.grad_weight, {
    ...TOL,
    label: "ref dW",
  });
  assertAllClose(ref.ds, P.grad_s, { ...TOL, label: "ref ds" });

  const tp = arena.upload(pp, [PL.total]), ts = arena.upload(s, [rows, D]);
  const dz = arena.upload(r, [rows, D]), ds = arena.tensor([rows, D]), grads = arena.tensor([PL.total]);
  const fwd = await prepareProjectionForward(gpu, arena, rows, D, { params: tp, s: ts });
  const bwd = await prepareProjectionBackward(gpu, arena, fwd, { dz, grads, accumulateGrads: false, ds });
  const rec = new StepRecorder(gpu);
  fwd.record(rec);
  bwd.record(rec);
  rec.submit();
  assertAllClose(await readF32(gpu, fwd.z), P.z, { ...TOL, label: "z" });
  const g = await readF32(gpu, grads);
  assertAllClose(PL.slice(g, PROJECTION_KEYS.w), P.grad_weight, { ...TOL, label: "dW" });
  assertAllClose(PL.slice(g, PROJECTION_KEYS.b), P.grad_bias, { ...TOL, label: "db" });
  assertAllClose(await readF32(gpu, ds), P.grad_s, { ...TOL, label: "ds" });
});

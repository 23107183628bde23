/**
 * Reference pools (core/model/pools.ts): GPU build against the float64 reference (gather, dropout, EMA head,
 * normalisation) with a partial last batch, renewal of Pool_sp only, and the renewal schedule.
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { Rng } from "../../core/rng.ts";
import {
  poolBatches,
  type PoolDims,
  poolsRef,
  preparePoolBuilder,
  shouldRenewPool,
} from "../../core/model/pools.ts";
import { headLayout } from "../../core/model/params.ts";
import { headForwardRef } from "../../core/model/heads.ts";
import { l2normalizeRef } from "../../core/kernels/l2norm.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

Deno.test("shouldRenewPool() renews at non-zero multiples of the interval only", () => {
  const renewed = Array.from({ length: 45 }, (_, i) => i).filter((i) => shouldRenewPool(i, 20));
  assert.deepEqual(renewed, [20, 40]);
  assert.equal(shouldRenewPool(0, 1), false);
  assert.equal(shouldRenewPool(1, 1), true);
  assert.equal(poolBatches(2048, 64), 32);
  assert.equal(poolBatches(37, 8), 5);
});

gpuTest(
  "PoolBuilder builds Pool_ag and Pool_sp like the float64 reference and renews Pool_sp only",
  async (ctx) => {
    const { gpu, arena } = ctx;
    const dims: PoolDims = { K: 37, B: 8, P: 6, Df: 24, D: 16 };
    const xi = headLayout(dims.Df, dims.D).init(new Rng(4));
    const txi = arena.upload(xi, [xi.length], "f32", "xi");
    const features = arena.tensor([dims.B * dims.P, dims.Df], "f32", "features");
    const pb = await preparePoolBuilder(gpu, arena, dims, txi, features);
    const rng = new Rng(11);

    const build = (buildAg: boolean, seed: number) => {
      const draw = pb.begin(rng, buildAg);
      const batches: Float32Array[] = [];
      for (let i = 0; i < pb.batches; i++) {
        const f = randnF32(dims.B * dims.P * dims.Df, seed + i);
        batches.push(f);
        features.write(f);
        const rec = new StepRecorder(gpu);
        pb.addBatch(rec, i, features);
        if (i === pb.batches - 1) pb.finish(rec);
        rec.submit();
      }
      return { draw, batches };
    };

    const first = build(true, 100);
    assert.notDeepEqual(first.draw.posAg, first.draw.posSp, "ag and sp positions are drawn independently");
    const want = poolsRef(dims, first.batches, xi, first.draw);
    const tol = 1e-4;
    const ag0 = await readF32(gpu, pb.poolAg);
    assertAllClose(ag0, want.ag!, { rtol: tol, atol: tol, label: "Pool_ag" });
    assertAllClose(await readF32(gpu, pb.poolSp), want.sp, { rtol: tol, atol: tol, label: "Pool_sp" });

    // Renewal: new images and positions for Pool_sp; Pool_ag untouched.
    const second = build(false, 200);
    assert.equal(second.draw.posAg, null);
    const want2 = poolsRef(dims, second.batches, xi, second.draw);
    assertAllClose(await readF32(gpu, pb.poolSp), want2.sp, {
      rtol: tol,
      atol: tol,
      label: "renewed Pool_sp",
    });
    assert.deepEqual(await readF32(gpu, pb.poolAg), ag0);

    // Checkpoint round trip into a second builder.
    const st = await pb.readState();
    const pb2 = await preparePoolBuilder(gpu, arena, dims, txi);
    pb2.loadState(st);
    assert.deepEqual(await pb2.readState(), st);
    assert.throws(() => pb2.loadState({ ag: new Float32Array(1), sp: st.sp }), TypeError);

    // Protocol errors are caught.
    assert.throws(() => pb.addBatch(new StepRecorder(gpu), 0, features), /begin/);
    pb.begin(rng, false);
    assert.throws(() => pb.addBatch(new StepRecorder(gpu), 1, features), RangeError);
    assert.throws(() => pb.finish(new StepRecorder(gpu)), /batches added/);
  },
);

gpuTest(
  "PoolBuilder with dropout 0 builds the dropout-free pools (normalised rows, eval-mode EMA code)",
  async (ctx) => {
    const { gpu, arena } = ctx;
    const dims: PoolDims = { K: 13, B: 4, P: 5, Df: 24, D: 16, dropout: 0 };
    const xi = headLayout(dims.Df, dims.D).init(new Rng(7));
    const features = arena.tensor([dims.B * dims.P, dims.Df], "f32", "features");
    const pb = await preparePoolBuilder(
      gpu,
      arena,
      dims,
      arena.upload(xi, [xi.length], "f32", "xi"),
      features,
    );
    assert.deepEqual(pb.dropouts().map((d) => d.shape.p), [0, 0, 0, 0]);
    const draw = pb.begin(new Rng(3), true);
    const batches: Float32Array[] = [];
    for (let i = 0; i < pb.batches; i++) {
      batches.push(randnF32(dims.B * dims.P * dims.Df, 50 + i));
      features.write(batches[i]);
      const rec = new StepRecorder(gpu);
      pb.addBatch(rec, i, features);
      if (i === pb.batches - 1) pb.finish(rec);
      rec.submit();
    }
    const { K, B, P, Df, D } = dims;
    const gather = (pos: number[]) =>
      Float64Array.from({ length: K * Df }, (_, e) => {
        const j = Math.floor(e / Df);
        return batches[Math.floor(j / B)][((j % B) * P + pos[j]) * Df + (e % Df)];
      });
    const ag = l2normalizeRef(K, Df, gather(draw.posAg!)).z;
    const sp =
      l2normalizeRef(K, D, headForwardRef({ rows: K, Df, D, P: 1 }, xi, gather(draw.posSp), null).code).z;
    assertAllClose(await readF32(gpu, pb.poolAg), ag, {
      rtol: 1e-4,
      atol: 1e-4,
      label: "Pool_ag without dropout",
    });
    assertAllClose(await readF32(gpu, pb.poolSp), sp, {
      rtol: 1e-4,
      atol: 1e-4,
      label: "Pool_sp without dropout",
    });
  },
);

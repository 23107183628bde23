/**
 * `head.dropout` means the probability of every Dropout2d of hp-method.md §2.6, as the official switch does:
 * the θ and ξ branch inputs (clean and augmented view), the EMA code ŝ̄, f̂, the LHP-mixed code s̃ and both
 * pools. With 0 they are all off: f̂ is the normalised backbone feature, ŝ̄ the normalised eval-mode EMA
 * code and s the eval-mode code of θ, exactly; with the default 0.1 they are not.
 * @module
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../core/model/config.ts";
import { headForwardRef } from "../../core/model/heads.ts";
import { l2normalizeRef } from "../../core/kernels/l2norm.ts";
import { DROPOUT_P } from "../../core/kernels/dropout.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { Rng } from "../../core/rng.ts";
import { HpGraph } from "../../core/train/graph.ts";
import { drawStepSeeds } from "../../core/train/schedule.ts";
import { embeddedVitWeights } from "../../core/vit/embedded.ts";
import { sampleAugParams } from "../../core/data/augment.ts";
import { assertAllClose, gpuTest, type GpuTestContext } from "../_util.ts";
import { TINY_RUN } from "../_tiny.ts";

const N_CLASSES = 7;

function graphFor({ gpu, arena }: GpuTestContext, dropout?: number) {
  const sets = [...TINY_RUN, "hp.alpha=0.5", ...(dropout === undefined ? [] : [`head.dropout=${dropout}`])];
  return HpGraph.create(
    gpu,
    arena,
    loadConfig("synthetic", sets),
    embeddedVitWeights(),
    N_CLASSES,
    new Rng(1),
  );
}

gpuTest(
  "head.dropout reaches every Dropout2d of the step and the pools (0, the default, 0.25)",
  async (ctx) => {
    for (const [set, p] of [[undefined, DROPOUT_P], [0, 0], [0.25, 0.25]] as const) {
      const graph = await graphFor(ctx, set);
      const drops = graph.dropouts();
      // θ clean (a, b, b→H) + ξ (a, b, code) + θ aug view (a, b, b→H) + f̂, s̃, s̃'s backward mask
      // + Pool_ag + the pool's EMA head (a, b, code).
      assert.equal(drops.length, 16);
      assert.deepEqual(drops.map((d) => d.shape.p), Array(16).fill(p), `head.dropout=${set}`);
    }
  },
);

gpuTest("head.dropout=0 turns every dropout off: f̂, ŝ̄ and s are the dropout-free values", async (ctx) => {
  const { gpu } = ctx;
  const check = async (dropout: number) => {
    const graph = await graphFor(ctx, dropout);
    const { B, res, N, Df, D, P } = graph.dims;
    const theta0 = await readF32(gpu, graph.theta), xi0 = await readF32(gpu, graph.xi);
    const r = new Rng(5);
    const rgb = Uint8Array.from({ length: B * res * res * 3 }, () => r.int(256));
    const augParams = Array.from({ length: B }, () => sampleAugParams(r));
    graph.step(
      { rgb, augParams, labels: new Int32Array(B * res * res).fill(-1) },
      drawStepSeeds(new Rng(9)),
      0,
      null,
    );
    const F = await readF32(gpu, graph.vit.features);
    const dims = { rows: N, Df, D, P };
    return {
      fhat: [await readF32(gpu, graph.fhat), l2normalizeRef(N, Df, F).z] as const,
      shat: [
        await readF32(gpu, graph.shat),
        l2normalizeRef(N, D, headForwardRef(dims, xi0, F, null).code).z,
      ] as const,
      code: [await readF32(gpu, graph.head.code), headForwardRef(dims, theta0, F, null).code] as const,
    };
  };
  const off = await check(0);
  for (const [name, [got, want]] of Object.entries(off)) {
    assertAllClose(got, want, { rtol: 2e-4, atol: 2e-5, label: `${name} with head.dropout=0` });
  }
  // The comparison sees dropout when it is on: about 10% of the channels of every image differ.
  const on = await check(0.1);
  for (const [name, [got, want]] of Object.entries(on)) {
    const differ = got.filter((v, i) => Math.abs(v - want[i]) > 1e-3).length;
    assert.ok(
      differ > got.length / 50,
      `${name} with head.dropout=0.1: only ${differ} of ${got.length} differ`,
    );
  }
});

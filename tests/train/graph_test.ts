/**
 * End-to-end trajectory of the trainer (core/train/graph.ts, core/train/loop.ts) on tiny synthetic
 * scenes: every read-back loss is finite, the HP loss does not grow over a few steps, and two runs with
 * the same seed produce bit-identical losses (seeded, deterministic kernels), while another seed differs.
 * Also the λ schedule of hp-method.md §5.8 and the GPU phase times (core/train/step_timer.ts).
 */
import assert, { deepStrictEqual as assertEquals, notDeepStrictEqual } from "node:assert/strict";
import { gpuTest } from "../_util.ts";
import { loadConfig } from "../../core/model/config.ts";
import { TINY_RUN } from "../_tiny.ts";
import { lambdaAt } from "../../core/train/schedule.ts";
import { runTraining, type TrainRunResult } from "../../core/train/loop.ts";
import type { Gpu } from "../../core/gpu/device.ts";
import { decodePhaseMs, STEP_PHASES } from "../../core/train/step_timer.ts";
import type { MetricsMessage, TelemetryMessage } from "../../core/telemetry.ts";
import { BufferArena } from "../../core/gpu/buffers.ts";
import { HpGraph } from "../../core/train/graph.ts";
import { embeddedVitWeights } from "../../core/vit/embedded.ts";
import { Rng } from "../../core/rng.ts";

Deno.test("lambdaAt() is 0 through the warm-up, then the linear ramp of §5.8", () => {
  assertEquals(lambdaAt(0, 10, 110), 0);
  assertEquals(lambdaAt(10, 10, 110), 0);
  assertEquals(lambdaAt(11, 10, 110), 0.01);
  assertEquals(lambdaAt(60, 10, 110), 0.5);
  assertEquals(lambdaAt(109, 10, 110), 0.99);
  assertEquals(lambdaAt(5, 10, 8), 0); // warm-up longer than the run
});

Deno.test("decodePhaseMs() turns raw u64 nanosecond timestamps into per-phase milliseconds", () => {
  const n = STEP_PHASES.length + 1, offset = 12;
  const enc = (ns: number[]) => {
    const buf = new ArrayBuffer(offset + 8 * n);
    const w = new Uint32Array(buf, offset, 2 * n);
    ns.forEach((v, i) => {
      w[2 * i] = v % 2 ** 32;
      w[2 * i + 1] = Math.floor(v / 2 ** 32);
    });
    return buf;
  };
  // Start above 2^32 ns so the high words matter; phase k lasts (k + 1) ms.
  const t0 = 5 * 2 ** 32 + 123;
  const ns = [t0];
  for (let k = 0; k < STEP_PHASES.length; k++) ns.push(ns[k] + (k + 1) * 1e6);
  const ms = decodePhaseMs(enc(ns), offset)!;
  assertEquals(Object.keys(ms), [...STEP_PHASES]);
  STEP_PHASES.forEach((p, k) => assert(Math.abs(ms[p] - (k + 1)) < 1e-9, `${p}: ${ms[p]}`));
  assertEquals(decodePhaseMs(enc(ns.map(() => 0)), offset), null, "all zero");
  assertEquals(
    decodePhaseMs(enc([...ns.slice(0, 2), ns[0] - 1, ...ns.slice(3)]), offset),
    null,
    "not monotonic",
  );
  assertEquals(decodePhaseMs(new ArrayBuffer(16), 8), null, "too short");
});

/** A tiny run: 32 px scenes (4×4 patches), batch 4 (N = 64), pool 8, augmented view on. */
export function tinyConfig(extra: string[] = []) {
  return loadConfig("synthetic", [
    ...TINY_RUN,
    "hp.alpha=0.5",
    "hp.renew_interval=2",
    "hp.lambda_warmup=1",
    "train.log_every=1",
    "train.checkpoint_every=1000",
    "eval.valid_freq=1000",
    ...extra,
  ]);
}

async function run(
  gpu: Gpu,
  seed: number,
  steps: number,
  extra: string[] = [],
  posted: TelemetryMessage[] = [],
): Promise<TrainRunResult> {
  const dir = await Deno.makeTempDir({ prefix: "hpseg-trainer-test-" });
  try {
    const r = await runTraining(gpu, {
      config: tinyConfig([`train.seed=${seed}`, ...extra]),
      runDir: dir,
      runId: "test",
      maxSteps: steps,
      post: (m) => posted.push(m as TelemetryMessage),
      skipBaseline: true,
    });
    // The final checkpoint step also draws the GHP and LHP pictures, the final evaluation the predictions.
    const pics = [...Deno.readDirSync(`${dir}/pictures`)].map((e) => e.name).sort();
    assertEquals(pics, [
      `ghp_${String(steps).padStart(7, "0")}.png`,
      `lhp_${String(steps).padStart(7, "0")}.png`,
      `pred_${String(steps).padStart(7, "0")}.png`,
    ]);
    return r;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

gpuTest("trainer: finite, non-increasing losses and bit-identical runs for one seed", async ({ gpu }) => {
  const steps = 8;
  const posted: TelemetryMessage[] = [];
  const a = await run(gpu, 3, steps, [], posted);
  // GPU time per phase travels with every metrics readback when the adapter has timestamp queries.
  const metrics = posted.filter((m): m is MetricsMessage => m.type === "metrics");
  assertEquals(metrics.length, steps);
  for (const m of metrics) {
    if (!gpu.hasTimestamps) {
      assertEquals(m.gpuPassMs, undefined);
      continue;
    }
    assert(m.gpuPassMs, `step ${m.step}: no GPU pass times`);
    assertEquals(Object.keys(m.gpuPassMs), [...STEP_PHASES]);
    const total = Object.values(m.gpuPassMs).reduce((x, y) => x + y, 0);
    assert(
      Object.values(m.gpuPassMs).every((v) => v >= 0 && Number.isFinite(v)),
      JSON.stringify(m.gpuPassMs),
    );
    assert(total > 0 && total < 60_000, `step ${m.step}: GPU time ${total} ms`);
  }
  const b = await run(gpu, 3, steps);
  const c = await run(gpu, 4, steps);
  assertEquals(a.step, steps);
  assertEquals(a.losses.map((l) => l.step), Array.from({ length: steps }, (_, i) => i + 1));
  for (const { step, metrics: m } of a.losses) {
    for (const [k, v] of Object.entries({ ghp: m.ghp, lhp: m.lhp, reg: m.reg, lin: m.lin, clu: m.clu })) {
      assert(Number.isFinite(v), `step ${step}: ${k} = ${v}`);
    }
    assert(m.posAg > 0, `step ${step}: no task-agnostic positives`);
    assert(m.posLhp >= 1 && m.posLhp <= 9, `step ${step}: mean LHP set size ${m.posLhp}`);
  }
  // Batches (and Bernoulli negatives) change every step, so single steps are noisy: compare halves.
  const hp = a.losses.map((l) => l.metrics.hp), lin = a.losses.map((l) => l.metrics.lin);
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  const h = steps / 2;
  assert(mean(hp.slice(h)) <= 1.1 * mean(hp.slice(0, h)), `HP loss grew: ${hp.join(", ")}`);
  assert(mean(lin.slice(h)) < mean(lin.slice(0, h)), `linear-probe loss did not decrease: ${lin.join(", ")}`);
  console.error(
    `[trainer test] hp ${hp.map((v) => v.toFixed(3)).join(" ")} | lin ${
      lin.map((v) => v.toFixed(3)).join(" ")
    }`,
  );
  assertEquals(b.losses, a.losses, "same seed, different losses");
  notDeepStrictEqual(c.losses.map((l) => l.metrics.hp), hp, "another seed gave the same losses");
  assert(a.final && Number.isFinite(a.final.cluster_acc), "no final evaluation");
});

gpuTest(
  "trainer: hp.mask_precision=f16 trains (finite losses, the f32 masks' first step)",
  async ({ gpu }) => {
    if (!gpu.hasF16) return console.error("[tests] skipped: adapter without shader-f16");
    const steps = 2;
    const half = await run(gpu, 5, steps, ["hp.loss_impl=sparse", "hp.mask_precision=f16"]);
    const full = await run(gpu, 5, steps, ["hp.loss_impl=sparse"]);
    for (let i = 0; i < steps; i++) {
      for (const k of ["ghp", "lhp", "hp"] as const) assert(Number.isFinite(half.losses[i].metrics[k]), k);
    }
    // f16 rounding moves thresholds slightly; the losses stay close (same data, seed and draws).
    const a = half.losses[0].metrics.hp, b = full.losses[0].metrics.hp;
    assert(Math.abs(a - b) <= 0.05 * Math.abs(b), `step 1 loss_hp f16 ${a} vs f32 ${b}`);
  },
);

gpuTest("trainer: hp.loss_impl=dense and =sparse train the same function", async ({ gpu }) => {
  const steps = 3;
  const dense = await run(gpu, 5, steps, ["hp.loss_impl=dense"]);
  const sparse = await run(gpu, 5, steps, ["hp.loss_impl=sparse"]);
  for (let i = 0; i < steps; i++) {
    const d = dense.losses[i].metrics, s = sparse.losses[i].metrics;
    for (const k of ["ghp", "lhp", "hp"] as const) {
      assert(
        Math.abs(d[k] - s[k]) <= 1e-4 * Math.max(1, Math.abs(d[k])),
        `step ${i + 1} ${k}: ${d[k]} vs ${s[k]}`,
      );
    }
  }
});

gpuTest(
  "trainer: a non-finite loss stops training with a message and keeps the last good checkpoint",
  async ({ gpu }) => {
    const { DivergedError } = await import("../../core/train/loop.ts");
    const { loadCheckpoint } = await import("../../core/model/checkpoint.ts");
    const dir = await Deno.makeTempDir({ prefix: "hpseg-nan-test-" });
    try {
      const config = tinyConfig(["train.checkpoint_every=2"]);
      const base = {
        config,
        runDir: dir,
        runId: "nan",
        post: () => {},
        skipBaseline: true,
        noPictures: true,
      };
      await runTraining(gpu, { ...base, maxSteps: 8, ...stopAfter(4) });
      const good = await loadCheckpoint(`${dir}/checkpoints/last.safetensors`);
      assertEquals(good.step, 4);
      // Resume from a state whose head holds a NaN: the first read-back loss is NaN.
      const poisoned = { ...good, head: good.head.slice() };
      poisoned.head[0] = NaN;
      let caught: Error | null = null;
      try {
        await runTraining(gpu, { ...base, resume: poisoned });
      } catch (err) {
        caught = err as Error;
      }
      assert(caught instanceof DivergedError, `expected DivergedError, got ${caught}`);
      assert(/step [56]: non-finite loss/.test(caught.message), caught.message);
      assert(caught.message.includes("last good checkpoint"), caught.message);
      const after = await loadCheckpoint(`${dir}/checkpoints/last.safetensors`);
      assertEquals(after.step, 4, "a checkpoint was written after the loss went non-finite");
      assert(after.head.every(Number.isFinite));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** `post` and `shouldStop` for a run that is asked to stop once `n` steps have run (seen in the ticks). */
function stopAfter(n: number) {
  let step = 0;
  return {
    post: (m: { type: string; step?: number }) => {
      if (m.type === "tick") step = m.step ?? step;
    },
    shouldStop: () => step >= n,
  };
}

gpuTest(
  "HpGraph: every phase records the same dispatches at batch 2 and 5",
  async ({ gpu }) => {
    // Launch counts independent of the batch: no per-image or per-head dispatch loops anywhere in the step,
    // the backbones included (fused attention; the LHP coefficients come from the clean backbone's last block).
    const counts = [];
    for (const B of [2, 5]) {
      const arena = new BufferArena(gpu, `graph-count-b${B}`);
      const graph = await HpGraph.create(
        gpu,
        arena,
        tinyConfig([`train.batch=${B}`]),
        embeddedVitWeights(),
        7,
        new Rng(1),
      );
      try {
        counts.push({
          phases: graph.dispatchesPerPhase(),
          vit: graph.vit.dispatchCount + graph.vitAug!.dispatchCount,
        });
      } finally {
        graph.destroy();
        arena.destroyAll();
      }
    }
    const [a, b] = counts;
    // + the batch assembly from the uploaded bytes: contrast mean, pixels, blur (core/data/photometric.ts).
    assertEquals(
      a.phases.backbone,
      a.vit + 3,
      "backbone phase = batch assembly + the two backbones (LHP coefficients inside)",
    );
    assertEquals(b.phases.backbone, b.vit + 3);
    for (const p of [...STEP_PHASES, "capture"] as const) {
      assertEquals(
        a.phases[p],
        b.phases[p],
        `phase ${p}: ${a.phases[p]} dispatches at B=2, ${b.phases[p]} at B=5`,
      );
    }
    assert(a.phases.loss > 0 && a.phases.backward > 0);
  },
);

gpuTest(
  "trainer: backbone.precision f16 trains close to f32 and says so; auto is f32 here",
  async ({ gpu }) => {
    const steps = 3;
    const posted16: TelemetryMessage[] = [], postedAuto: TelemetryMessage[] = [];
    const h = await run(gpu, 5, steps, ["backbone.precision=f16"], posted16);
    const f = await run(gpu, 5, steps, [], postedAuto);
    const start = (p: TelemetryMessage[]) => p.find((m) => m.type === "status" && m.state === "starting");
    assert.match(JSON.stringify(start(posted16)), /in f16, batch/);
    assert.match(JSON.stringify(start(postedAuto)), gpu.isSoftware ? /in f32, batch/ : /in f(16|32), batch/);
    // f16 features move the losses by O(1e-3) (README "Backbone precision"): same path, not bit-identical.
    for (let i = 0; i < steps; i++) {
      const a = h.losses[i].metrics, b = f.losses[i].metrics;
      for (const k of ["ghp", "lhp", "lin"] as const) {
        assert(Number.isFinite(a[k]), `f16 step ${i + 1} ${k} = ${a[k]}`);
        assert(
          Math.abs(a[k] - b[k]) <= 2e-2 * Math.max(1, Math.abs(b[k])),
          `step ${i + 1} ${k}: ${a[k]} vs ${b[k]}`,
        );
      }
    }
    if (gpu.isSoftware) notDeepStrictEqual(h.losses, f.losses, "f16 gave exactly the f32 losses");
  },
);

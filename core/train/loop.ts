/**
 * The training run around {@link HpGraph} (hp-method.md §1 step 2 and 10, §4, §5.8, §8.6): datasets and
 * loaders, reference pools (built before training, Pool_sp renewed every `renew_interval` batches), the
 * λ ramp, periodic metric readback with NaN/Inf detection, atomic checkpoints every `checkpoint_every`
 * steps, periodic validation with checkpoint selection (val | last), resume, and the final metrics
 * including the k-means baseline (core/eval/kmeans.ts).
 *
 * Before the first forward the run is checked against the adapter and the data (core/train/feasibility.ts,
 * core/model/backbone.ts): buffers within the binding limits, a pool the training set can fill, weights of
 * the variant the config names. Every phase reports progress through one stream of `tick` messages with
 * monotonic steps and one smoothed estimate of the time left (core/progress.ts RunEta), and gives up
 * between two pieces of GPU work when asked to stop, saving a checkpoint where one is due.
 *
 * Determinism: the main Rng (step seeds), the pool Rng (pool positions and dropout seeds) and the loader
 * order (a function of seed and epoch) are the whole randomness; all three are in the checkpoint, so a
 * resumed run draws exactly what the uninterrupted one would have.
 * Everything here awaits only BETWEEN steps (pool builds, readbacks, checkpoints, evaluation).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { hash32, Rng } from "../rng.ts";
import { InputError, Interrupted, LimitError } from "../errors.ts";
import { describeFinal, type FinalScores, type TelemetryMessage } from "../telemetry.ts";
import { usesFiveCrop } from "../../datasets/dataset.ts";
import { openDataset } from "../../datasets/registry.ts";
import { Loader, LoaderWorkers } from "../data/loader.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { variantName } from "../vit/weights.ts";
import { resolvePrecision } from "../vit/precision.ts";
import { configToYaml } from "../model/config.ts";
import { type HpConfig } from "../model/config_schema.ts";
import { HpGraph } from "./graph.ts";
import { drawStepSeeds, lambdaAt } from "./schedule.ts";
import { decodeMetrics, type StepMetrics } from "./metrics.ts";
import { decodePhaseMs } from "./step_timer.ts";
import { shouldRenewPool } from "../model/pools.ts";
import type { TrainState } from "../model/checkpoint.ts";
import { NonFiniteStateError, saveRunCheckpoint } from "./run_checkpoints.ts";
import { classNames, EvalContext, type ProbeDetails, type ValScores } from "./validation.ts";
import { drawTrainingPictures, PredictionPictures } from "./pictures.ts";
import type { RgbImage } from "../viz/pictures.ts";
import { backboneWeights, resolveBackbone } from "../model/backbone.ts";
import {
  checkPoolFitsDataset,
  checkTrainingFits,
  formatBytes,
  formatFlops,
  vitForwardFlops,
} from "./feasibility.ts";
import { buildPools, initClusterProbe } from "./build_pools.ts";
import { captureState, restoreState } from "./state.ts";
import { type PhaseHooks, RunProgress, type TickMessage } from "./progress.ts";
import { CrfPool } from "../eval/crf_pool.ts";
import { datasetOptions, loaderWorkerCount } from "./run_data.ts";

export { backboneWeights } from "../model/backbone.ts";
export { restoreState } from "./state.ts";

/**
 * Final metrics in percent (the one JSON line of `deno task train`); with eval.crf also the scores after the
 * dense CRF (hp-method.md §1: the final model is evaluated without and with the CRF, §8.5).
 */
export type FinalMetrics = FinalScores & { crf?: ValScores };

/** Options of {@link runTraining}. */
export interface TrainRunOptions {
  config: HpConfig;
  runDir: string;
  runId: string;
  /** Resume from this state (config must match). */
  resume?: TrainState | null;
  /** The file `resume` was read from (named as the last good checkpoint until a new one is written). */
  resumePath?: string;
  /** Total training steps (default: epochs × batches per epoch); more epochs are run as needed. */
  maxSteps?: number;
  /** Telemetry and ticks go here (postMessage in the Worker). */
  post: (msg: TelemetryMessage | TickMessage) => void;
  /** Polled between pieces of work: true → checkpoint and stop (Ctrl-C). */
  shouldStop?: () => boolean;
  /** Skip the k-means baseline at the end (tests that do not need it). */
  skipBaseline?: boolean;
  /** Skip the GHP/LHP pictures (drawn at every checkpoint step otherwise). */
  noPictures?: boolean;
  /** Loader Web Workers, overriding the config's dataset.workers (`--workers`). */
  workers?: number;
  /** Memory the GPU buffers live in when known (system memory for a software adapter), for the plan check. */
  memoryBytes?: number;
}

/** What {@link runTraining} returns. */
export interface TrainRunResult {
  step: number;
  totalSteps: number;
  stopped: boolean;
  /** Step of the newest checkpoint written (null: none, e.g. stopped while building the pools). */
  checkpointStep: number | null;
  /** Losses read back, by step (every log_every steps and at checkpoints). */
  losses: Array<{ step: number; metrics: StepMetrics }>;
  final: FinalMetrics | null;
}

/** Training diverged (NaN/Inf loss); the message names the step and the last good checkpoint. */
export class DivergedError extends Error {
  override name = "DivergedError";
  readonly userFacing = true;
}

/** The final model's scores after the dense CRF: one more pass over the validation split with a CRF pool. */
async function crfScores(evalCtx: EvalContext, graph: HpGraph, hooks: PhaseHooks): Promise<ValScores> {
  const pool = new CrfPool();
  try {
    return (await evalCtx.run(graph, hooks, undefined, pool)).crf!;
  } finally {
    pool.close();
  }
}

/** A buffer over the adapter's limits is the config's doing: the message names the sizes it asked for. */
async function withSizes<T>(cfg: HpConfig, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (!(err instanceof LimitError)) throw err;
    const { train: t, hp, head, eval: e } = cfg;
    throw new LimitError(
      `the config asks for more than this adapter supports (train.batch ${t.batch}, train.res ${t.res}, ` +
        `hp.pool_size ${hp.pool_size}, head.dim ${head.dim}, eval.batch ${e.batch}, eval.res ${e.res}): ` +
        err.message,
    );
  }
}

/** Runs (or resumes) a training run; see the module comment. */
export async function runTraining(gpu: Gpu, o: TrainRunOptions): Promise<TrainRunResult> {
  let cfg = o.config;
  const tr = cfg.train, hp = cfg.hp, post = o.post, B = tr.batch;
  const prog = new RunProgress(post, o.shouldStop);
  const result: TrainRunResult = {
    step: 0,
    totalSteps: 0,
    stopped: false,
    checkpointStep: null,
    losses: [],
    final: null,
  };
  const cleanup: Array<() => void> = [];
  try {
    prog.tick("setup", 0, 0);
    // ---- feasibility: data, weights, adapter (before anything is allocated or run)
    const trainDs = await openDataset(datasetOptions(cfg, "train"));
    const valDs = await openDataset(datasetOptions(cfg, "val"));
    const n = trainDs.nClasses;
    const trainWhat = `the ${trainDs.name} training set` +
      (usesFiveCrop(datasetOptions(cfg, "train")) ? " (five-crops)" : "");
    const weights = await backboneWeights(cfg);
    cfg = resolveBackbone(cfg, weights);
    // One line, before anything is allocated, when f16 is asked of an adapter without shader-f16.
    const precision = resolvePrecision(cfg.backbone.precision, gpu);
    const variant = cfg.backbone.arch === "embedded"
      ? variantName(weights.config).replace(/^custom /, "embedded ")
      : variantName(weights.config);
    if (!o.resume) {
      const from = cfg.backbone.arch === "embedded" ? "the embedded formula" : cfg.backbone.weights;
      await writeFileAtomic(
        `${o.runDir}/config.yaml`,
        configToYaml(cfg, `hpseg run ${o.runId}; backbone ${variant} from ${from}`),
      );
    }
    let weightBytes = 0;
    for (const t of weights.tensors.values()) weightBytes += t.byteLength;
    const plan = checkTrainingFits(cfg, { vit: weights.config, nClasses: n }, gpu.limits, {
      weightBytes,
      memoryBytes: o.memoryBytes,
    });
    if (trainDs.length < B) {
      throw new InputError(`${trainWhat} has ${trainDs.length} images, fewer than train.batch ${B}`);
    }
    checkPoolFitsDataset(cfg, trainDs.length, trainWhat);
    // Backbone forwards dominate a step: the clean view, and the augmented one when α > 0.
    const stepFlops = B * (hp.alpha > 0 ? 2 : 1) * vitForwardFlops(weights.config, tr.res);
    post({
      type: "status",
      state: "starting",
      runId: o.runId,
      config: cfg,
      // The log keeps the killed run's messages after this step; readers drop them (core/telemetry.ts).
      ...(o.resume ? { resumedFrom: o.resume.step } : {}),
      facts: { adapter: gpu.description, software: gpu.isSoftware, backbone: `${variant}, ${precision}` },
      message: `${variant} in ${precision}, batch ${B} at ${tr.res} px: ${plan.summary}; ` +
        (o.resume ? "" : `the pools take ${cfg.hp.pool_size} backbone forwards ` +
          `(${
            formatFlops(cfg.hp.pool_size * vitForwardFlops(weights.config, tr.res))
          }) before the first step, `) +
        `a step about ${formatFlops(stepFlops)}`,
    });

    // eval.crf: the final CRF pass reads both probes' per-pixel probabilities [2, B, res, res, n] back
    // from one buffer; where that is over the binding limit (e.g. the official eval.batch on a software
    // adapter) the final evaluation runs without the CRF and says so now.
    const crfBytes = 2 * cfg.eval.batch * cfg.eval.res ** 2 * n * 4;
    const crf = cfg.eval.crf && crfBytes <= gpu.limits.maxStorageBufferBindingSize;
    if (cfg.eval.crf && !crf) {
      const fit = Math.floor(gpu.limits.maxStorageBufferBindingSize / (crfBytes / cfg.eval.batch));
      post({
        type: "status",
        state: "starting",
        runId: o.runId,
        message:
          `eval.crf: the CRF probabilities of eval.batch ${cfg.eval.batch} at eval.res ${cfg.eval.res} ` +
          `need ${formatBytes(crfBytes)}, over this adapter's ${
            formatBytes(gpu.limits.maxStorageBufferBindingSize)
          } ` +
          `binding limit; the final evaluation runs without the CRF (--set eval.batch=${fit} keeps it, or ` +
          `\`deno task eval --crf --batch ${fit}\` on the run afterwards)`,
      });
    }

    // ---- loaders (one set of Workers shared by the training, pool and validation loaders)
    const workers = loaderWorkerCount(cfg, o.workers);
    const pool = workers > 0 && trainDs.spec ? new LoaderWorkers(workers) : null;
    if (pool) cleanup.push(() => pool.close());
    const loader = new Loader(trainDs, {
      batch: B,
      size: tr.res,
      seed: tr.seed,
      augment: hp.alpha > 0,
      augMode: tr.aug_mode,
      augOnGpu: true, // the step builds the augmented view from these draws (core/data/photometric.ts)
      pool: pool ?? undefined,
    });
    // The pool loader (§4): a separately shuffled loader over the same clean crops; renewal r reads epoch
    // id (step at which it happens) so every renewal draws a fresh shuffle.
    const poolLoader = new Loader(trainDs, {
      batch: B,
      size: tr.res,
      seed: hash32(tr.seed, 0x706f6f6c),
      augment: false,
      pool: pool ?? undefined,
    });
    cleanup.push(() => loader.close(), () => poolLoader.close());
    const bpe = loader.batchesPerEpoch;
    // --steps is part of the schedule (λ ramp): a resumed run keeps the total it started with.
    const savedTotal = o.resume?.extra.totalSteps;
    const T = o.maxSteps ?? (typeof savedTotal === "number" ? savedTotal : bpe * tr.epochs);
    result.totalSteps = T;
    const arena = new BufferArena(gpu, "train");
    cleanup.push(() => arena.destroyAll());
    let mainRng = new Rng(tr.seed);
    const graph = await withSizes(cfg, HpGraph.create(gpu, arena, cfg, weights, n, mainRng));
    cleanup.unshift(() => graph.destroy());
    let poolRng = new Rng(hash32(tr.seed, 0x504f4f4c));
    let step = 0, epoch = 0, bi = 0, best = -Infinity;
    let lastGood: string | null = null;
    // Where each Pool_ag row came from (the GHP picture's nearest pool member); unknown after a resume.
    let poolCrops: RgbImage[] | null = null;
    const evalCtx = await withSizes(cfg, EvalContext.create(gpu, arena, graph, valDs, cfg, n, pool));
    cleanup.unshift(() => evalCtx.destroy());
    const namedDetail = (d: ProbeDetails) => ({ classNames: classNames(valDs.classNames, n), ...d });
    prog.start(cfg, {
      totalSteps: T,
      valImages: valDs.length,
      patches: evalCtx.vit.patches,
      skipBaseline: o.skipBaseline === true,
      runId: o.runId,
    });

    if (o.resume) {
      const s = o.resume;
      restoreState(graph, s);
      step = s.step;
      epoch = s.epoch;
      bi = s.batchInEpoch;
      best = typeof s.extra.best === "number" ? s.extra.best : -Infinity;
      lastGood = `${o.resumePath ?? `${o.runDir}/checkpoints/last.safetensors`} (step ${s.step})`;
      if (!s.rng.main || !s.rng.pools) throw new InputError("checkpoint lacks the RNG states main/pools");
      mainRng = new Rng(s.rng.main);
      poolRng = new Rng(s.rng.pools);
      prog.resumedAt(step);
    } else {
      try {
        poolCrops = await buildPools(graph, poolLoader, poolRng, 0, true, prog.hooks("pool", B));
      } catch (err) {
        if (!(err instanceof Interrupted)) throw err;
        result.stopped = true;
        post({
          type: "status",
          state: "stopped",
          runId: o.runId,
          message: "stopped while building the pools",
        });
        return result;
      }
      await initClusterProbe(graph, poolLoader, tr.seed);
    }
    const predPictures = o.noPictures ? null : new PredictionPictures(evalCtx);
    const drawPredictions = async () => {
      const m = await predPictures?.draw(step, o.runDir);
      if (m) post(m);
    };
    // `all` false: collect what a later step has already been submitted after (the map then waits for that
    // step only), so the dashboard gets each readback one step late rather than one log interval late.
    const collect = async (all: boolean) => {
      while (graph.ring.pendingCount > 0 && (all || graph.ring.oldestTag! < step)) {
        const r = await graph.ring.collect();
        if (!r) break;
        const m = decodeMetrics(r.data, graph.dims.N);
        const phaseMs = graph.timer ? decodePhaseMs(r.data, graph.timerOffset) : null;
        result.losses.push({ step: r.tag, metrics: m });
        const total = m.hp + hp.alpha * m.reg + m.lin + m.clu;
        if (![m.ghp, m.lhp, m.reg, m.lin, m.clu, m.gradNorm].every(Number.isFinite)) {
          throw new DivergedError(
            `Training stopped at step ${r.tag}: non-finite loss (ghp ${m.ghp}, lhp ${m.lhp}, reg ${m.reg}, ` +
              `lin ${m.lin}, clu ${m.clu}, grad norm ${m.gradNorm}); ` +
              (lastGood ? `the last good checkpoint is ${lastGood}` : "no checkpoint was written yet"),
          );
        }
        const stepMs = prog.msPerStep();
        post({
          type: "metrics",
          step: r.tag,
          epoch: Math.floor((r.tag - 1) / bpe),
          totalSteps: T,
          losses: { ghp: m.ghp, lhp: m.lhp, reg: m.reg, lin: m.lin, clu: m.clu, total },
          lambda: m.lambda,
          lr: tr.lr,
          positives: { ag: m.posAg, sp: m.posSp, lhp: m.posLhp },
          thresholds: m.thresholds,
          imagesPerSec: stepMs > 0 ? (1000 * B) / stepMs : 0,
          stepMs,
          etaSeconds: prog.etaSeconds(),
          ...(phaseMs ? { gpuPassMs: phaseMs } : {}),
        });
      }
    };
    const checkpoint = async (isBest = false) => {
      await collect(true);
      const state = await captureState(graph, cfg, step, epoch, bi, mainRng, poolRng, best, T);
      state.extra.classNames = trainDs.classNames;
      try {
        const paths = await saveRunCheckpoint(o.runDir, state, { best: isBest });
        lastGood = `${paths[1]} (step ${step})`; // the step file: `last` moves on, this one stays
      } catch (err) {
        // Finite losses can hide an overflowed optimiser moment: never save it as good.
        if (!(err instanceof NonFiniteStateError)) throw err;
        throw new DivergedError(
          `Training stopped at step ${step}: ${err.message}; nothing was saved, ` +
            (lastGood ? `the last good checkpoint is ${lastGood}` : "no checkpoint was written yet"),
        );
      }
      result.checkpointStep = step;
      prog.checkpointed(step);
    };
    /** Saves what is due and marks the run stopped (Ctrl-C between two pieces of work). */
    const stopHere = async () => {
      if (result.checkpointStep !== step && (o.resume?.step ?? -1) !== step) await checkpoint();
      result.stopped = true;
    };
    post({ type: "status", state: "running", runId: o.runId });
    prog.tick("train", step, T);
    outer: while (step < T) {
      for await (const batch of loader.epoch(epoch, bi)) {
        if (shouldRenewPool(bi, hp.renew_interval)) {
          const saved = poolRng.state;
          try {
            await buildPools(graph, poolLoader, poolRng, step + 1, false, prog.hooks("pool", B));
          } catch (err) {
            if (!(err instanceof Interrupted)) throw err;
            poolRng = new Rng(saved); // the renewal did not happen: resume draws it again
            await stopHere();
            break outer;
          }
        }
        const seeds = drawStepSeeds(mainRng);
        const lambda = lambdaAt(step, hp.lambda_warmup, T);
        const last = step + 1 >= T;
        const isCkpt = (step + 1) % tr.checkpoint_every === 0 || last;
        const capture = (step + 1) % tr.log_every === 0 || isCkpt ? step + 1 : null;
        if (!graph.step(batch, seeds, lambda, capture)) {
          await collect(true);
          // The ring was full: this step's metrics are skipped (never happens with collect below).
        }
        step++;
        bi++;
        if (bi >= bpe) {
          epoch++;
          bi = 0;
        }
        // The first steps wait for the GPU so the whole-run estimate comes early.
        if (prog.wantsSync()) await gpu.device.queue.onSubmittedWorkDone();
        if (graph.ring.pendingCount > 0) await collect(false);
        prog.stepDone(step);
        if (isCkpt) {
          await checkpoint();
          if (!o.noPictures) {
            const pics = await drawTrainingPictures(
              graph,
              batch.images,
              lambda,
              step,
              o.runDir,
              poolCrops,
              batch.labels,
            );
            for (const m of pics) post(m);
          }
        }
        if (cfg.eval.valid_freq > 0 && step % cfg.eval.valid_freq === 0 && !last) {
          let ev;
          try {
            ev = await prog.validation(() => evalCtx.run(graph, prog.hooks("validate", 1)));
          } catch (err) {
            if (!(err instanceof Interrupted)) throw err;
            await stopHere();
            break outer;
          }
          const { detail, ...scores } = ev;
          post({ type: "eval", step, metrics: scores, ...(detail ? { detail: namedDetail(detail) } : {}) });
          await drawPredictions();
          const score = ev.cluster_acc + ev.cluster_miou + ev.linear_acc + ev.linear_miou;
          if (cfg.eval.selection === "val" && score > best) {
            best = score;
            await checkpoint(true);
          }
          prog.tick("train", step, T);
        }
        if (o.shouldStop?.()) {
          await stopHere();
          break outer;
        }
        if (step >= T) break outer;
      }
    }
    await collect(true);
    result.step = step;
    if (result.stopped) {
      post({
        type: "status",
        state: "stopped",
        runId: o.runId,
        message: `stopped at step ${step}; resume with --resume`,
      });
      return result;
    }
    // ---- the end: k-means baseline fit, final evaluation (with the baseline scored in the same pass)
    post({ type: "status", state: "evaluating", runId: o.runId });
    let final: FinalMetrics;
    try {
      const centroids = o.skipBaseline
        ? undefined
        : await prog.baseline(() => evalCtx.fitBaseline(prog.hooks("baseline", 1)));
      const ev = await evalCtx.run(graph, prog.hooks("final", 1), centroids);
      const { kmeans_miou, detail, ...scores } = ev;
      post({ type: "eval", step, metrics: scores, ...(detail ? { detail: namedDetail(detail) } : {}) });
      let finalEv = scores;
      if (cfg.eval.selection === "val") {
        const score = ev.cluster_acc + ev.cluster_miou + ev.linear_acc + ev.linear_miou;
        if (score > best) {
          best = score;
          await checkpoint(true);
        } else {
          const { loadCheckpoint } = await import("../model/checkpoint.ts");
          restoreState(graph, await loadCheckpoint(`${o.runDir}/checkpoints/best.safetensors`));
          const { kmeans_miou: _, detail: _d, ...again } = await evalCtx.run(graph, prog.hooks("final", 1));
          finalEv = again;
        }
      }
      final = { ...finalEv, kmeans_miou: kmeans_miou ?? NaN };
      if (crf) final.crf = await crfScores(evalCtx, graph, prog.hooks("final", 1));
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      result.stopped = true;
      post({
        type: "status",
        state: "stopped",
        runId: o.runId,
        message: `stopped in the final evaluation after step ${step}; --resume evaluates again`,
      });
      return result;
    }
    await drawPredictions();
    result.final = final;
    post({ type: "status", state: "done", runId: o.runId, message: describeFinal(step, final), final });
    return result;
  } catch (err) {
    post({ type: "status", state: "failed", runId: o.runId, message: (err as Error).message });
    throw err;
  } finally {
    for (const f of cleanup) f(); // loader Workers would otherwise outlive the run
  }
}

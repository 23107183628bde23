/**
 * The training run around {@link HpGraph} (hp-method.md §1 step 2 and 10, §4, §5.8, §8.6): datasets and
 * loaders, reference pools (built before training, Pool_sp renewed every `renew_interval` batches), the
 * λ ramp, periodic metric readback with NaN/Inf detection, atomic checkpoints every `checkpoint_every`
 * steps, periodic validation with checkpoint selection (val | last), resume, and the final metrics
 * including the k-means baseline (core/hp/kmeans.ts).
 *
 * Determinism: the main Rng (step seeds), the pool Rng (pool positions and dropout seeds) and the loader
 * order (a function of seed and epoch) are the whole randomness; all three are in the checkpoint, so a
 * resumed run draws exactly what the uninterrupted one would have.
 * Everything here awaits only BETWEEN steps (pool builds, readbacks, checkpoints, evaluation).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import { hash32, Rng } from "../rng.ts";
import { InputError, LimitError } from "../errors.ts";
import { describeFinal, type FinalScores, type TelemetryMessage } from "../telemetry.ts";
import { openDataset } from "../../datasets/dataset.ts";
import { defaultLoaderWorkers, Loader } from "../data/loader.ts";
import { loadVitWeights, type VitWeights } from "../vit/vit.ts";
import { checkDinov2Backbone } from "../vit/variants.ts";
import type { HpConfig } from "./config.ts";
import { embeddedVitWeights } from "./embedded_backbone.ts";
import { HpGraph } from "./trainer.ts";
import { drawStepSeeds, lambdaAt } from "./schedule.ts";
import { decodeMetrics, type StepMetrics } from "./train_metrics.ts";
import { decodePhaseMs } from "./step_timer.ts";
import { shouldRenewPool } from "./pools.ts";
import type { TrainState } from "./checkpoint.ts";
import { NonFiniteStateError, saveRunCheckpoint } from "./run_checkpoints.ts";
import { kmeans, normalizeRows } from "./kmeans.ts";
import { EvalContext } from "./train_eval.ts";
import { drawTrainingPictures, patchContext, PredictionPictures } from "./train_pictures.ts";
import type { RgbImage } from "../viz/pictures.ts";

/** Final metrics in percent (the one JSON line of `deno task train`). */
export type FinalMetrics = FinalScores;

/** A progress tick (every step; not logged, drives the terminal bar). */
export interface TickMessage {
  type: "tick";
  step: number;
  totalSteps: number;
  note?: string;
  /** performance.now() in the trainer's thread when step `step` was done (its own clock; rates only). */
  at?: number;
}

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
  /** Polled between steps: true → checkpoint and stop (Ctrl-C). */
  shouldStop?: () => boolean;
  /** Skip the k-means baseline at the end (tests that do not need it). */
  skipBaseline?: boolean;
  /** Skip the GHP/LHP pictures (drawn at every checkpoint step otherwise). */
  noPictures?: boolean;
  /** Loader Web Workers (default: {@link defaultLoaderWorkers} — 0 for synthetic, else min(cores − 1, 4)). */
  workers?: number;
}

/** What {@link runTraining} returns. */
export interface TrainRunResult {
  step: number;
  totalSteps: number;
  stopped: boolean;
  /** Losses read back, by step (every log_every steps and at checkpoints). */
  losses: Array<{ step: number; metrics: StepMetrics }>;
  final: FinalMetrics | null;
}

/** Training diverged (NaN/Inf loss); the message names the step and the last good checkpoint. */
export class DivergedError extends Error {
  override name = "DivergedError";
  readonly userFacing = true;
}

function datasetOptions(cfg: HpConfig, split: "train" | "val") {
  const d = cfg.dataset;
  return {
    dataset: d.name,
    root: d.root || undefined,
    split,
    fiveCrop: d.name === "synthetic" ? undefined : (split === "train" ? d.five_crop : false),
    imageSize: d.name === "synthetic" ? d.image_size : undefined,
    count: d.name === "synthetic" ? (split === "train" ? d.train_count : d.val_count) : undefined,
    seed: d.name === "synthetic" ? 0 : undefined,
    nClasses: d.name === "folder" && d.n_classes > 0 ? d.n_classes : undefined,
  } as const;
}

/** The backbone weights a config names (embedded formula or a file). */
export async function backboneWeights(cfg: HpConfig): Promise<VitWeights> {
  if (cfg.backbone.arch === "embedded") return embeddedVitWeights();
  if (!cfg.backbone.weights) {
    throw new InputError(`backbone.weights is empty for backbone.arch ${cfg.backbone.arch}`, {
      hint: "pass --set backbone.weights=PATH (a DINO .pth or .safetensors file)",
    });
  }
  const w = await loadVitWeights(cfg.backbone.weights);
  checkDinov2Backbone(cfg.backbone, w);
  return w;
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
  const cfg = o.config, tr = cfg.train, hp = cfg.hp;
  const trainDs = await openDataset(datasetOptions(cfg, "train"));
  const valDs = await openDataset(datasetOptions(cfg, "val"));
  const n = trainDs.nClasses;
  const B = tr.batch;
  const loader = new Loader(trainDs, {
    batch: B,
    size: tr.res,
    seed: tr.seed,
    augment: hp.alpha > 0,
    augMode: tr.aug_mode,
    workers: o.workers ?? defaultLoaderWorkers(cfg.dataset.name),
  });
  if (loader.batchesPerEpoch < 1) {
    throw new InputError(
      `dataset ${cfg.dataset.name} has ${trainDs.length} training images, fewer than batch ${B}`,
    );
  }
  // The pool loader (§4): a separately shuffled loader over the same clean crops; renewal r reads epoch
  // id (step at which it happens) so every renewal draws a fresh shuffle.
  const poolLoader = new Loader(trainDs, {
    batch: B,
    size: tr.res,
    seed: hash32(tr.seed, 0x706f6f6c),
    augment: false,
  });
  const bpe = loader.batchesPerEpoch;
  // --steps is part of the schedule (λ ramp): a resumed run keeps the total it started with.
  const savedTotal = o.resume?.extra.totalSteps;
  const T = o.maxSteps ?? (typeof savedTotal === "number" ? savedTotal : bpe * tr.epochs);
  const arena = new BufferArena(gpu, "train");
  const weights = await backboneWeights(cfg);
  let mainRng = new Rng(tr.seed);
  const graph = await withSizes(cfg, HpGraph.create(gpu, arena, cfg, weights, n, mainRng));
  let poolRng = new Rng(hash32(tr.seed, 0x504f4f4c));
  const result: TrainRunResult = { step: 0, totalSteps: T, stopped: false, losses: [], final: null };
  let step = 0, epoch = 0, bi = 0;
  let best = -Infinity;
  let lastGood: string | null = null; // path (step N) of the newest checkpoint known to be finite
  // Where each Pool_ag row came from (the GHP picture's nearest pool member); unknown after a resume.
  let poolCrops: RgbImage[] | null = null;
  const post = o.post;
  post({
    type: "status",
    state: "starting",
    runId: o.runId,
    config: cfg as unknown as Record<string, unknown>,
    // The log keeps the killed run's messages after this step; readers drop them (core/telemetry.ts).
    ...(o.resume ? { resumedFrom: o.resume.step } : {}),
  });

  try {
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
    } else {
      poolCrops = await buildPools(graph, poolLoader, poolRng, 0, true);
      await initClusterProbe(graph, poolLoader, tr.seed);
    }
    const evalCtx = await withSizes(cfg, EvalContext.create(gpu, arena, graph, valDs, cfg, n));
    const predPictures = o.noPictures ? null : new PredictionPictures(evalCtx);
    const drawPredictions = async () => {
      const m = await predPictures?.draw(step, o.runDir);
      if (m) post(m);
    };
    const collect = async (all: boolean) => {
      while (graph.ring.pendingCount > (all ? 0 : 1)) {
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
          imagesPerSec: stepRate.ips,
          stepMs: stepRate.ms,
          ...(phaseMs ? { gpuPassMs: phaseMs } : {}),
        });
      }
    };
    const stepRate = { ips: 0, ms: 0, t0: performance.now(), s0: step };
    const checkpoint = async (isBest = false) => {
      await collect(true);
      const state = await captureState(graph, cfg, step, epoch, bi, mainRng, poolRng, best, T);
      try {
        const paths = await saveRunCheckpoint(o.runDir, state, { best: isBest });
        lastGood = `${paths[1]} (step ${step})`; // the step file: `last` moves on, this one stays
      } catch (err) {
        // Finite losses can hide an overflowed optimiser moment (issue 11 finding 6): never save it as good.
        if (!(err instanceof NonFiniteStateError)) throw err;
        throw new DivergedError(
          `Training stopped at step ${step}: ${err.message}; nothing was saved, ` +
            (lastGood ? `the last good checkpoint is ${lastGood}` : "no checkpoint was written yet"),
        );
      }
    };
    post({ type: "status", state: "running", runId: o.runId });
    outer: while (step < T) {
      for await (const batch of loader.epoch(epoch, bi)) {
        if (shouldRenewPool(bi, hp.renew_interval)) {
          await buildPools(graph, poolLoader, poolRng, step + 1, false);
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
        if (capture !== null) {
          const now = performance.now();
          stepRate.ms = (now - stepRate.t0) / Math.max(1, step - stepRate.s0);
          stepRate.ips = (1000 * B) / Math.max(1e-9, stepRate.ms);
          stepRate.t0 = now;
          stepRate.s0 = step;
          await collect(false);
        }
        post({ type: "tick", step, totalSteps: T, at: performance.now() });
        if (isCkpt) {
          await checkpoint();
          if (!o.noPictures) {
            const pics = await drawTrainingPictures(graph, batch.images, lambda, step, o.runDir, poolCrops);
            for (const m of pics) post(m);
          }
        }
        if (cfg.eval.valid_freq > 0 && step % cfg.eval.valid_freq === 0 && !last) {
          post({ type: "tick", step, totalSteps: T, note: "evaluating" });
          const ev = await evalCtx.run(graph);
          post({ type: "eval", step, metrics: ev });
          await drawPredictions();
          const score = ev.cluster_acc + ev.cluster_miou + ev.linear_acc + ev.linear_miou;
          if (cfg.eval.selection === "val" && score > best) {
            best = score;
            await checkpoint(true);
          }
        }
        if (o.shouldStop?.()) {
          if (!isCkpt) await checkpoint();
          result.stopped = true;
          break outer;
        }
        if (step >= T) break outer;
      }
    }
    await collect(true);
    result.step = step;
    if (!result.stopped) {
      post({ type: "status", state: "evaluating", runId: o.runId });
      const ev = await evalCtx.run(graph);
      post({ type: "eval", step, metrics: ev });
      let finalEv = ev;
      if (cfg.eval.selection === "val") {
        const score = ev.cluster_acc + ev.cluster_miou + ev.linear_acc + ev.linear_miou;
        if (score > best) {
          best = score;
          await checkpoint(true);
        } else {
          const { loadCheckpoint } = await import("./checkpoint.ts");
          restoreState(graph, await loadCheckpoint(`${o.runDir}/checkpoints/best.safetensors`));
          finalEv = await evalCtx.run(graph);
        }
      }
      await drawPredictions();
      const km = o.skipBaseline ? NaN : await evalCtx.kmeans();
      result.final = { ...finalEv, kmeans_miou: km };
      post({
        type: "status",
        state: "done",
        runId: o.runId,
        message: describeFinal(step, result.final),
        final: result.final,
      });
    } else {
      post({
        type: "status",
        state: "stopped",
        runId: o.runId,
        message: `stopped at step ${step}; resume with --resume`,
      });
    }
    evalCtx.destroy();
    return result;
  } catch (err) {
    post({ type: "status", state: "failed", runId: o.runId, message: (err as Error).message });
    throw err;
  } finally {
    loader.close(); // its Workers would otherwise outlive the run
    poolLoader.close();
    graph.destroy();
    arena.destroyAll();
  }
}

/**
 * Builds Pool_ag (with `ag`) and Pool_sp from the first ⌈K/B⌉ batches of the pool loader's epoch `id`.
 * @returns with `ag`, a small crop around the patch behind each Pool_ag row (for the pictures)
 */
async function buildPools(
  graph: HpGraph,
  loader: Loader,
  rng: Rng,
  id: number,
  ag: boolean,
): Promise<RgbImage[] | null> {
  const draw = graph.pools.begin(rng, ag);
  const { B, K, S, res } = graph.dims;
  const crops: RgbImage[] | null = draw.posAg ? [] : null;
  let b = 0;
  const need = graph.pools.batches;
  const it = loader.epoch(id % 0x7fffffff)[Symbol.asyncIterator]();
  while (b < need) {
    const r = await it.next();
    if (r.done) break;
    const rec = new StepRecorder(graph.gpu, "pool-batch");
    graph.images.write(r.value.images);
    graph.vit.encode(rec, graph.images);
    graph.pools.addBatch(rec, b, graph.vit.features);
    for (let i = 0; crops && i < B && b * B + i < K; i++) {
      crops.push(patchContext(r.value.images, i, res, S, draw.posAg![b * B + i]));
    }
    b++;
    if (b === need) graph.pools.finish(rec);
    rec.submit();
  }
  await it.return?.();
  if (b < need) throw new InputError(`pool of ${graph.dims.K} needs ${need} batches, the dataset gives ${b}`);
  return crops;
}

/**
 * Initialises the cluster probe's centroids by k-means on the normalised train-mode codes of one batch
 * (the pool loader's first batch, dropout seeds from their own Rng) instead of N(0,1) draws: with few
 * clusters and a short run, random centroids that no code is nearest to never receive a gradient and stay
 * dead (hp-method.md §8.2's probe only moves the winning centroid). Deterministic in the seed.
 */
async function initClusterProbe(graph: HpGraph, loader: Loader, seed: number): Promise<void> {
  const { N, D, n } = graph.dims;
  const it = loader.epoch(0)[Symbol.asyncIterator]();
  const first = await it.next();
  await it.return?.();
  if (first.done) return;
  const rng = new Rng(hash32(seed, 0x636c7573));
  graph.images.write(first.value.images);
  graph.head.setSeeds({ a: rng.nextU32(), b: rng.nextU32() });
  const rec = new StepRecorder(graph.gpu, "cluster-probe-init");
  graph.vit.encode(rec, graph.images);
  graph.head.record(rec);
  rec.submit();
  const codes = await readF32(graph.gpu, graph.head.code);
  normalizeRows(codes, D);
  const { centroids } = kmeans(codes.subarray(0, N * D), N, D, n, { seed: rng.nextU32(), restarts: 3 });
  graph.cluster.params.write(Float32Array.from(centroids));
}

async function captureState(
  graph: HpGraph,
  cfg: HpConfig,
  step: number,
  epoch: number,
  bi: number,
  main: Rng,
  pools: Rng,
  best: number,
  totalSteps: number,
): Promise<TrainState> {
  const g = graph.gpu, { Df, D, K, n } = graph.dims;
  return {
    config: cfg,
    step,
    epoch,
    batchInEpoch: bi,
    rng: { main: main.state, pools: pools.state },
    dims: { Df, D, K },
    head: await readF32(g, graph.theta),
    ema: await readF32(g, graph.xi),
    projection: await readF32(g, graph.proj),
    pools: await graph.pools.readState(),
    probes: {
      "cluster.clusters": { shape: [n, D], data: await readF32(g, graph.cluster.params) },
      "linear.params": { shape: [n * D + n], data: await readF32(g, graph.linear.params) },
    },
    optim: {
      head: await graph.optim.head.readState(),
      projection: await graph.optim.projection.readState(),
      linear: await graph.optim.linear.readState(),
      cluster: await graph.optim.cluster.readState(),
    },
    extra: { best: Number.isFinite(best) ? best : null, totalSteps },
  };
}

/** Writes a checkpoint's tensors into the graph's buffers. */
export function restoreState(graph: HpGraph, s: TrainState): void {
  const { Df, D, K } = graph.dims;
  if (s.dims.Df !== Df || s.dims.D !== D || s.dims.K !== K) {
    throw new InputError(
      `checkpoint dims (D_f ${s.dims.Df}, D ${s.dims.D}, K ${s.dims.K}) do not match the run (${Df}, ${D}, ${K})`,
    );
  }
  graph.theta.write(s.head);
  graph.xi.write(s.ema);
  graph.proj.write(s.projection);
  graph.pools.loadState(s.pools);
  const c = s.probes["cluster.clusters"], l = s.probes["linear.params"];
  if (!c || !l) throw new InputError("checkpoint lacks the probe tensors cluster.clusters / linear.params");
  graph.cluster.params.write(c.data);
  graph.linear.params.write(l.data);
  for (const k of ["head", "projection", "linear", "cluster"] as const) {
    if (!s.optim[k]) throw new InputError(`checkpoint lacks the optimiser state "${k}"`);
    graph.optim[k].loadState(s.optim[k]);
  }
}

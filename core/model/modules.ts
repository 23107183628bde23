/**
 * The trained modules of one HP run on the GPU, allocated once (hp-method.md §1, §2.2–§2.4, §6):
 * θ (flat, headLayout) with its gradient and AdamW (wd, global-norm clip), ξ (EMA copy of θ) with its update
 * kernel, and the projection head with its gradient and Adam. The training graph (core/train/graph.ts)
 * builds the forward/backward sites (heads.ts, projection.ts) on these buffers and records, per step:
 *   θ forward(s) → ξ forward → `recordEmaUpdate` → loss → backwards → optimiser steps.
 * Probes (probes.ts) have their own buffers; `prepareAdam` serves them too.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import type { Rng } from "../rng.ts";
import type { HpConfig } from "./config_schema.ts";
import { prepareEmaUpdate } from "../kernels/ema.ts";
import { adamwHead, type FlatAdam, type OptimState, prepareAdam } from "../kernels/optim.ts";
import { headLayout, type ParamLayout, projectionLayout } from "./params.ts";

/** GPU state of θ, ξ and the projection head with their optimisers. */
export interface HpModules {
  Df: number;
  D: number;
  headLayout: ParamLayout;
  projLayout: ParamLayout;
  /** θ [headLayout.total]. */
  head: GpuTensor;
  /** ∂L/∂θ, same layout (written by the head backwards; the first of a step overwrites). */
  headGrads: GpuTensor;
  /** ξ, same layout. */
  ema: GpuTensor;
  /** Projection head [projLayout.total] and its gradient. */
  proj: GpuTensor;
  projGrads: GpuTensor;
  /** AdamW + clip for θ; Adam for the projection head. */
  headOpt: FlatAdam;
  projOpt: FlatAdam;
  emaUpdate: Dispatch;
  /** Records ξ ← m·ξ + (1−m)·θ (after the ξ forward, before `recordOptimSteps`). */
  recordEmaUpdate(rec: StepRecorder): void;
  /** Records both optimiser steps (each writes its step uniform now). */
  recordOptimSteps(rec: StepRecorder): void;
  /** Reads parameters and optimiser states back (outside a step) for a checkpoint. */
  readState(): Promise<ModuleState>;
  /** Restores parameters and optimiser states (from a checkpoint). */
  loadState(s: ModuleState): void;
}

/** The host-side copy of {@link HpModules} that checkpoints hold. */
export interface ModuleState {
  head: Float32Array;
  ema: Float32Array;
  projection: Float32Array;
  optim: { head: OptimState; projection: OptimState };
}

/**
 * Allocates and initialises the modules: θ then the projection head drawn from `rng` with PyTorch's
 * default init (in that order), ξ = θ. Hyper-parameters from `cfg` (train.lr, weight_decay, clip,
 * proj_lr; hp.ema_momentum).
 */
export async function createHpModules(
  gpu: Gpu,
  arena: BufferArena,
  cfg: HpConfig,
  Df: number,
  rng: Rng,
): Promise<HpModules> {
  const D = cfg.head.dim;
  const hl = headLayout(Df, D), pl = projectionLayout(D);
  const theta = hl.init(rng);
  const head = arena.upload(theta, [hl.total], "f32", "theta");
  const ema = arena.upload(theta, [hl.total], "f32", "xi");
  const headGrads = arena.tensor([hl.total], "f32", "theta-grad");
  const proj = arena.upload(pl.init(rng), [pl.total], "f32", "projection");
  const projGrads = arena.tensor([pl.total], "f32", "projection-grad");
  const headOpt = await prepareAdam(
    gpu,
    arena,
    hl.total,
    { params: head, grads: headGrads },
    adamwHead(cfg.train.lr, cfg.train.weight_decay, cfg.train.clip),
    "adamw-head",
  );
  const projOpt = await prepareAdam(gpu, arena, pl.total, { params: proj, grads: projGrads }, {
    lr: cfg.train.proj_lr,
  }, "adam-projection");
  const emaUpdate = await prepareEmaUpdate(gpu, arena, hl.total, head, ema, cfg.hp.ema_momentum);
  return {
    Df,
    D,
    headLayout: hl,
    projLayout: pl,
    head,
    headGrads,
    ema,
    proj,
    projGrads,
    headOpt,
    projOpt,
    emaUpdate,
    recordEmaUpdate(rec) {
      rec.dispatch(emaUpdate);
    },
    recordOptimSteps(rec) {
      headOpt.record(rec);
      projOpt.record(rec);
    },
    async readState() {
      return {
        head: await readF32(gpu, head),
        ema: await readF32(gpu, ema),
        projection: await readF32(gpu, proj),
        optim: { head: await headOpt.readState(), projection: await projOpt.readState() },
      };
    },
    loadState(s) {
      if (s.head.length !== hl.total || s.ema.length !== hl.total || s.projection.length !== pl.total) {
        throw new TypeError(
          `module state sizes ${s.head.length}/${s.ema.length}/${s.projection.length} do not match ` +
            `D_f ${Df}, D ${D} (${hl.total}/${hl.total}/${pl.total})`,
        );
      }
      head.write(s.head);
      ema.write(s.ema);
      proj.write(s.projection);
      headOpt.loadState(s.optim.head);
      projOpt.loadState(s.optim.projection);
    },
  };
}

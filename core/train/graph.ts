/**
 * One HP training iteration on the GPU (hp-method.md §1, §2.3, §2.6, §5, §6): every buffer and dispatch
 * of the step is prepared once by {@link HpGraph.create}; `step()` writes the batch and this step's seeds
 * and uniforms, records the whole iteration into ONE command encoder and submits it ONCE — no await, no
 * allocation. Metrics are copied into a staging ring every `log_every` steps and mapped later (outside the
 * step) by the loop in core/train/loop.ts.
 *
 * Order inside a step (hp-method.md §1 steps 1, 3–9, §2.3 EMA timing):
 *   0. the uploaded u8 crops → clean view, augmented view (§3.3, core/data/photometric.ts), i32 labels
 *   1. backbone(clean) → F [N, D_f] and head-mean attention [B, P, P]; backbone(aug) → F^aug
 *   2. LHP coefficients from the attention (§5.5)
 *   3. θ train forward (draws a, b) → s;  ξ EMA forward (draws a, b, out) → s̄  — with ξ_{t−1}
 *   4. EMA update ξ ← m·ξ + (1−m)·θ (θ before this step's optimiser update)
 *   5. f̂ = normalize(Dropout2d(F)), ŝ̄ = normalize(s̄)
 *   6. z = proj(s); s̃ = Dropout2d(mix(s)), z̃ = proj(s̃); θ train forward on F^aug → s^aug, z^aug = proj(s^aug)
 *   7. L_HP (thresholds, masks, GHP + LHP terms, gradients dz, dz̃) with this step's λ_t and Bernoulli seed
 *   8. α·L_reg(z, z^aug), gradients added into dz and into dz^aug
 *   9. backward: projection (×3) → ds, ds̃ → Dropout2d mask → mixᵀ added into ds → θ backward (clean, aug)
 *  10. probes on the detached code s: cluster probe loss/grad, linear probe loss/grad
 *  11. AdamW(θ) with global-norm clip, Adam(projection), Adam(linear), Adam(cluster)
 * Total loss reported = L_lin + L_clu + L_HP + α·L_reg (§5.7).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { StagingRing } from "../gpu/readback.ts";
import { VitBackbone, VitGpuWeights, type VitWeights } from "../vit/vit.ts";
import { resolvePrecision } from "../vit/precision.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { type HeadForward, prepareHeadBackward, prepareHeadForward } from "../model/heads.ts";
import { prepareProjectionBackward, prepareProjectionForward } from "../model/projection.ts";
import { type Dropout2d, prepareDropout2d } from "../kernels/dropout.ts";
import { type Photometric, preparePhotometric } from "../data/photometric.ts";
import type { AugParams } from "../data/augment.ts";
import { prepareL2Normalize } from "../kernels/l2norm.ts";
import { HP_AUX_STRIDE, HpLoss } from "../model/loss.ts";
import { LhpCount, LhpMix } from "../model/lhp.ts";
import { ConsistencyReg } from "../model/reg.ts";
import { type FlatAdam, prepareAdam } from "../kernels/optim.ts";
import { createHpModules, type HpModules } from "../model/modules.ts";
import { type PoolBuilder, preparePoolBuilder } from "../model/pools.ts";
import { ClusterProbe, LinearProbe } from "../model/probes.ts";
import { STEP_PHASES, type StepPhase, StepTimer } from "./step_timer.ts";
import type { Drops, GraphDims, Sequence } from "./graph_parts.ts";

export type { GraphDims };
import { METRIC, METRIC_HEAD } from "./metrics.ts";
import type { StepSeeds } from "./schedule.ts";
import type { Rng } from "../rng.ts";

/** Everything prepared for one training run: parameters, activations, kernels, optimisers. */
export class HpGraph {
  readonly gpu: Gpu;
  readonly arena: BufferArena;
  readonly dims: GraphDims;
  readonly config: HpConfig;
  /** Shared backbone weights and the clean (with attention) and augmented-view backbones. */
  readonly vitWeights: VitGpuWeights;
  readonly vit: VitBackbone;
  readonly vitAug: VitBackbone | null;
  /** Batch inputs. */
  readonly images: GpuTensor;
  readonly augImages: GpuTensor;
  readonly labels: GpuTensor;
  /** θ, ξ and the projection head with their gradients, optimisers and the EMA update. */
  readonly modules: HpModules;
  /** θ, ξ, projection (flat; the buffers of {@link modules}). */
  readonly theta: GpuTensor;
  readonly xi: GpuTensor;
  readonly proj: GpuTensor;
  readonly pools: PoolBuilder;
  readonly cluster: ClusterProbe;
  readonly linear: LinearProbe;
  readonly optim: { head: FlatAdam; projection: FlatAdam; linear: FlatAdam; cluster: FlatAdam };
  readonly loss: HpLoss;
  /** Metrics head [32] + aux copy [N, 12] + (with timestamps) the step timer's words. */
  readonly metrics: GpuTensor;
  /** GPU time per phase on captured steps (null without timestamp queries); bytes at {@link timerOffset}. */
  readonly timer: StepTimer | null;
  /** f̂ [N, D_f] and ŝ̄ [N, D] of the last step (read back for the GHP pictures). */
  readonly fhat: GpuTensor;
  readonly shat: GpuTensor;
  /** LHP coefficients a_ij/n_i [N, 9] of the last step. */
  readonly lhpCoef: GpuTensor;
  readonly ring: StagingRing;
  /** Head forward on the clean batch (its code is s). */
  readonly head: HeadForward;
  #emaHead: HeadForward;
  #augHead: HeadForward | null;
  #drops: Drops;
  #seq: Sequence;
  #batchIn: Photometric;

  private constructor(init: {
    gpu: Gpu;
    arena: BufferArena;
    dims: GraphDims;
    config: HpConfig;
    vitWeights: VitGpuWeights;
    vit: VitBackbone;
    vitAug: VitBackbone | null;
    modules: HpModules;
    t: Record<string, GpuTensor>;
    pools: PoolBuilder;
    cluster: ClusterProbe;
    linear: LinearProbe;
    optim: HpGraph["optim"];
    loss: HpLoss;
    ring: StagingRing;
    timer: StepTimer | null;
    heads: { head: HeadForward; ema: HeadForward; aug: HeadForward | null };
    drops: Drops;
    seq: Sequence;
    batchIn: Photometric;
  }) {
    this.gpu = init.gpu;
    this.arena = init.arena;
    this.dims = init.dims;
    this.config = init.config;
    this.vitWeights = init.vitWeights;
    this.vit = init.vit;
    this.vitAug = init.vitAug;
    this.images = init.t.images;
    this.augImages = init.t.augImages;
    this.labels = init.t.labels;
    this.#batchIn = init.batchIn;
    this.modules = init.modules;
    this.theta = init.modules.head;
    this.xi = init.modules.ema;
    this.proj = init.modules.proj;
    this.metrics = init.t.metrics;
    this.fhat = init.t.fhat;
    this.shat = init.t.shat;
    this.lhpCoef = init.vit.lhp!;
    this.pools = init.pools;
    this.cluster = init.cluster;
    this.linear = init.linear;
    this.optim = init.optim;
    this.loss = init.loss;
    this.ring = init.ring;
    this.timer = init.timer;
    this.head = init.heads.head;
    this.#emaHead = init.heads.ema;
    this.#augHead = init.heads.aug;
    this.#drops = init.drops;
    this.#seq = init.seq;
  }

  /**
   * Builds the graph for `config` (B = train.batch, input train.res) with freshly initialised parameters
   * drawn from `rng` (θ and the projection with PyTorch's default init; ξ = θ; probes from their seeds).
   */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    config: HpConfig,
    weights: VitWeights,
    nClasses: number,
    rng: Rng,
  ): Promise<HpGraph> {
    const B = config.train.batch, res = config.train.res, patch = weights.config.patch;
    if (res % patch !== 0) {
      throw new RangeError(`train.res ${res} is not a multiple of the backbone patch size ${patch}`);
    }
    const S = res / patch, P = S * S, N = B * P, Df = weights.config.dim, D = config.head.dim;
    const K = config.hp.pool_size, n = nClasses;
    const dims: GraphDims = { B, res, S, P, N, Df, D, K, n };
    const hp = config.hp, tr = config.train;
    const useAug = hp.alpha > 0;

    // The backbone's precision (auto: f16 on hardware with shader-f16); validation shares these weights.
    const vitWeights = VitGpuWeights.upload(gpu, weights, resolvePrecision(config.backbone.precision, gpu));
    const vit = await VitBackbone.create(gpu, arena, vitWeights, {
      batch: B,
      height: res,
      width: res,
      lhp: { sigma: hp.sigma }, // the LHP coefficients [B·P, 9], computed in the last block
    });
    const vitAug = useAug
      ? await VitBackbone.create(gpu, arena, vitWeights, {
        batch: B,
        height: res,
        width: res,
        shareScratch: vit, // the two forwards run one after the other in the step's encoder
      })
      : null;
    const T = (shape: number[], label: string, dtype: "f32" | "i32" = "f32") =>
      arena.tensor(shape, dtype, label);
    const images = T([B, 3, res, res], "train-images");
    const augImages = useAug ? T([B, 3, res, res], "train-aug-images") : images;
    const labels = T([B, res, res], "train-labels", "i32");
    // The batch arrives as u8 crops, u8/i16 labels and the augmentation draws; the GPU builds the rest.
    const batchIn = await preparePhotometric(gpu, arena, {
      B,
      H: res,
      W: res,
      nClasses: n,
      augment: useAug,
      mode: tr.aug_mode,
    }, { clean: images, aug: augImages, labels });

    // ---- parameters: θ, ξ, projection, their gradients and optimisers (θ then projection drawn from rng)
    const modules = await createHpModules(gpu, arena, config, Df, rng);
    const { head: theta, ema: xi, proj, headGrads: gTheta, projGrads: gProj } = modules;

    // ---- heads
    const F = vit.features, Fa = vitAug?.features ?? F;
    const scratch = T([N, Df], "head-scratch");
    // Every Dropout2d of §2.6 draws with head.dropout: θ/ξ branch inputs, ŝ̄, f̂, s̃ and both pools.
    const p = config.head.dropout;
    const hd = { rows: N, Df, D, P, dropout: p };
    const head = await prepareHeadForward(gpu, arena, hd, "train", { params: theta, features: F, scratch });
    const ema = await prepareHeadForward(gpu, arena, hd, "ema", { params: xi, features: F, scratch });
    const aug = useAug
      ? await prepareHeadForward(gpu, arena, hd, "train", { params: theta, features: Fa, scratch })
      : null;
    const s = head.code;

    // ---- f̂, ŝ̄ (dropout draws of §2.6, then row normalisation)
    const fhat = T([N, Df], "fhat");
    const dropF = await prepareDropout2d(gpu, arena, { rows: N, C: Df, P, p }, F, fhat);
    const normF = await prepareL2Normalize(gpu, arena, N, Df, { x: fhat, y: fhat });
    const shat = T([N, D], "shat");
    const normSbar = await prepareL2Normalize(gpu, arena, N, D, { x: ema.code, y: shat });

    // ---- LHP
    const lhpCoef = vit.lhp!;
    const lhpCount = await LhpCount.create(gpu, arena, N, { coef: lhpCoef });
    const dmixed = T([N, D], "lhp-dmixed");
    const dsClean = T([N, D], "ds");
    const mix = await LhpMix.create(gpu, arena, { B, S, C: D }, { coef: lhpCoef, s, dmixed, ds: dsClean }, {
      accumulateGrad: true,
    });
    const dropMix = await prepareDropout2d(
      gpu,
      arena,
      { rows: N, C: D, P, p },
      mix.mixed,
      mix.mixed,
    );
    const dropMixBack = await prepareDropout2d(
      gpu,
      arena,
      { rows: N, C: D, P, p },
      dmixed,
      dmixed,
    );

    // ---- projections
    const pz = await prepareProjectionForward(gpu, arena, N, D, { params: proj, s });
    const pzt = await prepareProjectionForward(gpu, arena, N, D, { params: proj, s: mix.mixed });
    const pza = aug ? await prepareProjectionForward(gpu, arena, N, D, { params: proj, s: aug.code }) : null;

    // ---- pools and loss
    const pools = await preparePoolBuilder(gpu, arena, { K, B, P, Df, D, dropout: p }, xi, F);
    const lossParams = { tau: hp.tau, tauBase: hp.tau_base, rho: hp.rho };
    const lossInputs = { fhat, shat, poolAg: pools.poolAg, poolSp: pools.poolSp, z: pz.z, zt: pzt.z };
    const loss = await HpLoss.create(gpu, arena, { B, S, Df, D, K }, lossParams, lossInputs, {
      impl: hp.loss_impl,
      maskPrecision: hp.mask_precision,
    });
    const reg = pza
      ? await ConsistencyReg.create(gpu, arena, { N, D }, { z: pz.z, za: pza.z, dz: loss.dz }, {
        scale: hp.alpha,
        accumulate: true,
      })
      : null;

    // ---- backward
    const projBack = [
      await prepareProjectionBackward(gpu, arena, pz, {
        dz: loss.dz,
        grads: gProj,
        accumulateGrads: false,
        ds: dsClean,
      }),
      await prepareProjectionBackward(gpu, arena, pzt, {
        dz: loss.dzt,
        grads: gProj,
        accumulateGrads: true,
        ds: dmixed,
      }),
    ];
    const dsAug = aug ? T([N, D], "ds-aug") : null;
    if (pza && reg) {
      projBack.push(
        await prepareProjectionBackward(gpu, arena, pza, {
          dz: reg.dza,
          grads: gProj,
          accumulateGrads: true,
          ds: dsAug!,
        }),
      );
    }
    const headBack = [await prepareHeadBackward(gpu, arena, head, { dCode: dsClean, grads: gTheta }, false)];
    // The aug site's backward recomputes into the shared scratch and its own H; it runs after the clean one.
    if (aug) {
      headBack.push(await prepareHeadBackward(gpu, arena, aug, { dCode: dsAug!, grads: gTheta }, true));
    }

    // ---- probes and optimisers
    const cluster = await ClusterProbe.create(gpu, arena, { n, D, N }, s, { seed: rng.nextU32() });
    const linear = await LinearProbe.create(
      gpu,
      arena,
      { n, D, B, Sh: S, Sw: S, H: res, W: res },
      s,
      labels,
      {
        seed: rng.nextU32(),
      },
    );
    const optim = {
      head: modules.headOpt,
      projection: modules.projOpt,
      linear: await prepareAdam(gpu, arena, n * D + n, { params: linear.params, grads: linear.grad }, {
        lr: tr.linear_lr,
      }, "adam-linear"),
      cluster: await prepareAdam(gpu, arena, n * D, { params: cluster.params, grads: cluster.grad }, {
        lr: tr.cluster_lr,
      }, "adam-cluster"),
    };

    const timer = StepTimer.create(gpu);
    const metrics = T([METRIC_HEAD + N * HP_AUX_STRIDE + (timer ? StepTimer.WORDS : 0)], "metrics");
    const ring = new StagingRing(gpu, metrics.byteLength, 2);
    return new HpGraph({
      gpu,
      arena,
      dims,
      config,
      vitWeights,
      vit,
      vitAug,
      modules,
      t: { images, augImages, labels, metrics, fhat, shat },
      pools,
      cluster,
      linear,
      optim,
      loss,
      ring,
      timer,
      heads: { head, ema, aug },
      drops: { fhat: dropF, mixed: dropMix, mixedBack: dropMixBack },
      batchIn,
      seq: {
        pre: [dropF.dispatch, normF],
        projections: [pz, pzt, ...(pza ? [pza] : [])],
        reg,
        projBack,
        mix,
        lhpCount,
        headBack,
        emaUpdate: modules.emaUpdate,
        normSbar,
      },
    });
  }

  /**
   * Every Dropout2d of hp-method.md §2.6 the step and the pool builds record: θ's branch inputs (clean and
   * augmented view), ξ's branch inputs and code ŝ̄, f̂, s̃ (and its backward mask) and both pools. Each draws
   * with probability head.dropout.
   */
  dropouts(): Dropout2d[] {
    const d = this.#drops;
    return [
      ...this.head.dropouts(),
      ...this.#emaHead.dropouts(),
      ...(this.#augHead?.dropouts() ?? []),
      d.fhat,
      d.mixed,
      d.mixedBack,
      ...this.pools.dropouts(),
    ];
  }

  /** Byte offset of the step timer's words in the metrics buffer (after the head and the aux copy). */
  get timerOffset(): number {
    return (METRIC_HEAD + this.dims.N * HP_AUX_STRIDE) * 4;
  }

  /**
   * Runs one iteration: uploads the batch, writes this step's seeds/λ, records everything into one
   * encoder and submits once. With `capture` the metrics are copied into the staging ring (tag = step).
   * @returns false when the ring was full and no capture was recorded.
   */
  step(
    batch: { rgb: Uint8Array; labels: Int32Array; augParams?: readonly AugParams[] },
    seeds: StepSeeds,
    lambda: number,
    capture: number | null,
  ): boolean {
    if (this.vitAug && !batch.augParams) {
      throw new TypeError("HpGraph.step: hp.alpha > 0 needs the batch's augmentation draws (augParams)");
    }
    this.#batchIn.upload(batch.rgb, batch.labels, this.vitAug ? batch.augParams : undefined);
    this.head.setSeeds(seeds.head);
    this.#emaHead.setSeeds(seeds.ema);
    this.#augHead?.setSeeds(seeds.aug);
    this.#drops.fhat.setSeed(seeds.fhat);
    this.#drops.mixed.setSeed(seeds.mixed);
    this.#drops.mixedBack.setSeed(seeds.mixed);
    this.loss.setStep(lambda, seeds.negatives);

    const rec = new StepRecorder(this.gpu, "hp-step");
    const captured = this.#record(rec, capture);
    rec.submit();
    return captured;
  }

  /**
   * Uploads u8 crops [B, res, res, 3] and records their ImageNet normalisation into {@link images} (pool
   * building and the cluster probe's start: clean view only, the step's labels untouched).
   */
  encodeCleanImages(rec: StepRecorder, rgb: Uint8Array): void {
    this.#batchIn.uploadRgb(rgb);
    rec.dispatch(this.#batchIn.cleanDispatch);
  }

  /**
   * Dispatches one step records, per phase of {@link STEP_PHASES} (plus "capture": the metrics copy-out of
   * a captured step). Records into a throwaway encoder that is never submitted; nothing is written.
   */
  dispatchesPerPhase(): Record<StepPhase | "capture", number> {
    const rec = new StepRecorder(this.gpu, "hp-step-count");
    const marks: number[] = [];
    this.#record(rec, 0, marks);
    const out = {} as Record<StepPhase | "capture", number>;
    STEP_PHASES.forEach((p, k) => out[p] = marks[k + 1] - marks[k]);
    out.capture = rec.dispatchCount - marks[STEP_PHASES.length];
    return out;
  }

  /** Records one step into `rec`; `marks` (counting) receives the dispatch count at each phase mark. */
  #record(rec: StepRecorder, capture: number | null, marks?: number[]): boolean {
    const q = this.#seq;
    const stepTimer = capture !== null && !marks ? this.timer : null;
    const timer = {
      mark(r: StepRecorder, k: number) {
        marks?.push(r.dispatchCount);
        stepTimer?.mark(r, k);
      },
      record(r: StepRecorder, dst: GpuTensor, offset: number) {
        stepTimer?.record(r, dst, offset);
      },
    };
    timer.mark(rec, 0);
    // 0: the batch's views and labels from the uploaded bytes
    rec.dispatch(...this.#batchIn.dispatches);
    // 1–2: backbone and LHP coefficients
    this.vit.encode(rec, this.images);
    if (this.vitAug) this.vitAug.encode(rec, this.augImages);
    timer.mark(rec, 1);
    // 3–4: θ forward, ξ forward (ξ_{t−1}), then the EMA update
    this.head.record(rec);
    this.#emaHead.record(rec);
    rec.dispatch(q.emaUpdate);
    // 5: f̂, ŝ̄
    rec.dispatch(...q.pre, q.normSbar);
    // 6: z, s̃ → dropout → z̃, aug view
    q.mix.recordForward(rec);
    rec.dispatch(this.#drops.mixed.dispatch);
    this.#augHead?.record(rec);
    for (const p of q.projections) p.record(rec);
    timer.mark(rec, 2);
    // 7–8: losses and their gradients w.r.t. z, z̃, z^aug
    this.loss.record(rec);
    if (q.reg) {
      // Adds into dz (the HP gradient); overwrites its own dz^aug.
      q.reg.record(rec);
    }
    timer.mark(rec, 3);
    // 10 (before the backward overwrites nothing the probes read: they read s only)
    this.cluster.record(rec);
    this.linear.record(rec);
    timer.mark(rec, 4);
    // 9: backward
    for (const b of q.projBack) b.record(rec);
    rec.dispatch(this.#drops.mixedBack.dispatch);
    q.mix.recordBackward(rec);
    for (const b of q.headBack) b.record(rec);
    timer.mark(rec, 5);
    // 11: optimiser steps
    this.optim.head.record(rec);
    this.optim.projection.record(rec);
    this.optim.linear.record(rec);
    this.optim.cluster.record(rec);
    timer.mark(rec, 6);
    let captured = true;
    if (capture !== null) {
      const m = this.metrics;
      rec.copy(this.loss.stats, m, 16 * 4, 0, 0);
      if (q.reg) rec.copy(q.reg.loss, m, 4, 0, METRIC.reg * 4);
      rec.copy(this.cluster.loss, m, 4, 0, METRIC.clu * 4);
      rec.copy(this.linear.loss, m, 8, 0, METRIC.lin * 4);
      if (this.optim.head.gradNorm) rec.copy(this.optim.head.gradNorm, m, 8, 0, METRIC.gradNorm * 4);
      rec.copy(this.loss.aux, m, this.loss.aux.byteLength, 0, METRIC_HEAD * 4);
      q.lhpCount.record(rec);
      rec.copy(q.lhpCount.out, m, 4, 0, METRIC.lhpSize * 4);
      timer.record(rec, m, this.timerOffset);
      captured = marks ? true : this.ring.capture(rec, m, capture);
    }
    return captured;
  }

  /** Frees the backbone weights and the staging ring (the arena frees the rest). */
  destroy(): void {
    this.ring.destroy();
    this.timer?.destroy();
    this.vit.destroy();
    this.vitAug?.destroy();
    this.vitWeights.destroy();
  }
}

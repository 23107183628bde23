/**
 * The hidden-positive loss on the GPU (hp-method.md §5.1–§5.4, §5.7, §5.9): thresholds, symmetric GHP
 * masks, Bernoulli negatives, the merged multi-positive objective for y = z (GHP) and y = z̃ (LHP) with the
 * same masks, the per-image normalisers and dL/dz, dL/dz̃ through both anchor and contrast sides.
 * CPU reference: core/model/loss_ref.ts. Nothing N×N is ever stored (no N×N floats; the sparse path keeps
 * two N² *bit*-planes). Two implementations of the same function, both tested against the reference:
 *
 * Sparse (default; core/model/loss_sparse.ts):
 *   1. thresholds  R^ag, R^sp (loss_threshold.wgsl, fused dot+max, 128×128 tiles)  2·N·K·(Df + D) FLOPs
 *   2. urows       U[r,·] as bits [P, W = ⌈N/32⌉], rank tables and the transpose   2·P·N hashes
 *   3. mask        P_ag, P_sp bit-planes (loss_sparse_mask.wgsl, 128×128 tiles)     N²·(Df + D) (upper triangle)
 *   4. forward     group: per r, the B anchors × U_r dense (loss_sparse_group_fwd.wgsl)     4·ρ·N²·D
 *                  rows: per anchor, the positives outside U_r (loss_sparse_fwd)    4·D·Σ_i|P_i \ U|
 *   5. reduce      one workgroup: M_b, losses, coef_i → aux slot 10                 O(N)
 *   6. backward×2  group: per r, G tile → anchor side into dy, contrast side into  6·ρ·N²·D each
 *                  per-r partial slots (loss_sparse_group_bwd.wgsl); owner: positives and  4·D·Σ_i|P_i|
 *                  the partials of its positions in r order (loss_sparse_bwd.wgsl)
 *   At N = 50,176, Df = 384, D = 512, ρ = 0.02: 2.25 TFLOP of mask dots, 0.18 TFLOP of thresholds,
 *   ≈ 0.4 TFLOP of grouped tiles (each U_r row read once per 64 anchors instead of once per anchor);
 *   planes 630 MB, contrast partials 1.6 GB. The official code does ≈ 20 TFLOP (fp16). Estimates per pass
 *   on an H100 are in BENCHMARKS.md.
 * Dense (impl "dense"; loss_fwd.wgsl, loss_bwd.wgsl): row-owner passes streaming 64-column tiles,
 *   masks and logits recomputed in every pass: 2·N²·3·(Df + 3D) ≈ 29 TFLOP at COCO size. Kept as the
 *   simple, independent second implementation (and used when B exceeds the sparse round capacity); there
 *   dL/dy_i = (1/τ) Σ_j (G_ij + G_ji) y_j is gathered by the row owner from the symmetric dot products.
 * Both are deterministic: fixed reduction orders, no float atomics.
 * Mask precision (option maskPrecision, config hp.mask_precision): f32 (default, exact) or f16 copies of f̂, ŝ̄
 * and the pools for the threshold and mask passes (loss_f16.wgsl; f32 accumulation). Lever not yet taken:
 * packed-f16 arithmetic in those passes (the official code computes them in fp16 on tensor cores).
 *
 * Bindings stay ≤ 8 storage buffers per kernel; the largest f32 binding is [N, 512] (98 MiB at
 * N = 50,176), inside lavapipe's 128 MiB limit; the bit-planes are split into row chunks that fit the
 * adapter's binding limit (one chunk on an H100: 2 GiB), and the contrast partials are capped by it
 * (pairs past the cap are recomputed by their owner: exact, slower). The step uniform (λ, seed) is one 48-byte
 * writeBuffer.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { checkDtype, checkExtent } from "../kernels/common.ts";
import { type HpDims, type HpParams, TAU_BASE } from "./loss_ref.ts";
import thresholdSrc from "../../shaders/model/loss_threshold.wgsl" with { type: "text" };
import fwdSrc from "../../shaders/model/loss_fwd.wgsl" with { type: "text" };
import reduceSrc from "../../shaders/model/loss_reduce.wgsl" with { type: "text" };
import bwdSrc from "../../shaders/model/loss_bwd.wgsl" with { type: "text" };
import { buildSparse, f16Variant, type LossStep, SPARSE_MAX_B } from "./loss_sparse.ts";
import f16Src from "../../shaders/model/loss_f16.wgsl" with { type: "text" };
import { LimitError } from "../errors.ts";
import { MAX_CODE_DIM } from "../limits.ts";

export type { HpDims, HpParams };

/** Floats per row of {@link HpLoss.aux}; slot meanings in shaders/include/loss_common.wgsl. */
export const HP_AUX_STRIDE = 12;
/** Slots of {@link HpLoss.aux}. */
export const HP_AUX = {
  rAg: 0,
  rSp: 1,
  lseZ: 2,
  lseZt: 3,
  sumZ: 4,
  sumZt: 5,
  w: 6,
  nAg: 7,
  nSp: 8,
  nD: 9,
  coef: 10,
} as const;
/** Entries of {@link HpLoss.stats} (f32[16]). */
export const HP_STATS = {
  lossGhp: 0,
  lossLhp: 1,
  lossHp: 2,
  meanPosAg: 3,
  meanPosSp: 4,
  kept: 5,
  meanDenom: 6,
  emptyImages: 7,
  lambda: 8,
} as const;
/** Largest code width the backward kernel supports (16 vec4 accumulators per thread). */
export const HP_MAX_D = MAX_CODE_DIM;
const BWD_SHARED_BYTES = (512 + 1024 + 2048) * 4 + 512 * 16;

/** GPU inputs of the loss; f32, row-major. Pools are L2-normalised rows, f̂/ŝ̄/z/z̃ unit rows. */
export interface HpLossInputs {
  /** f̂ [N, Df] */
  fhat: GpuTensor;
  /** ŝ̄ [N, D] */
  shat: GpuTensor;
  /** Pool_ag [K, Df] */
  poolAg: GpuTensor;
  /** Pool_sp [K, D] */
  poolSp: GpuTensor;
  /** z [N, D] */
  z: GpuTensor;
  /** z̃ [N, D] */
  zt: GpuTensor;
}

const NAME = "HpLoss";

/** Largest ρ for which "auto" picks the sparse path. */
export const SPARSE_MAX_RHO = 0.25;

/** FLOPs of one {@link HpLoss.record} per pass, dense path (see the module header). */
export function hpLossFlops(
  dims: HpDims,
): { threshold: number; forward: number; backward: number; total: number } {
  const N = dims.B * dims.S * dims.S;
  const threshold = 2 * N * dims.K * (dims.Df + dims.D);
  const forward = 2 * N * N * (dims.Df + 3 * dims.D);
  const backward = 2 * 2 * N * N * (dims.Df + 3 * dims.D); // per y: c^ag, c^sp, l dots + H·y
  return { threshold, forward, backward, total: threshold + forward + backward };
}

function recordSteps(rec: StepRecorder, steps: LossStep[]): void {
  for (const s of steps) {
    if ("clear" in s) rec.clear(s.clear);
    else rec.dispatch(s);
  }
}

/** Which implementation {@link HpLoss} uses (both compute the same function; tests check both). */
export type HpLossImpl = "dense" | "sparse";

/** Options of {@link HpLoss.create}. */
export interface HpLossOptions {
  /**
   * "auto" (default): sparse (bit-plane masks, logits only on D_i ∪ P_i ∪ {j : i ∈ D_j}) when
   * ρ ≤ {@link SPARSE_MAX_RHO}, dense otherwise.
   */
  impl?: HpLossImpl | "auto";
  /** Sparse path: cap on rows per bit-plane chunk (default: as many as the binding limit allows). */
  maxChunkRows?: number;
  /** Sparse path: cap on contrast-partial slots (tests; default: see loss_sparse.ts partialSlots). */
  maxPartialSlots?: number;
  /**
   * Precision of f̂, ŝ̄ and the pools in the threshold and mask passes (hp.mask_precision): "f32" (default,
   * exact against the references) or "f16" (copies made each step by loss_f16.wgsl; sparse path only, needs
   * the adapter's shader-f16; dots still accumulate in f32, so only values within f16 rounding of a
   * threshold can flip — `deno task bench hploss mask=f16` counts them).
   */
  maskPrecision?: "f32" | "f16";
}

/**
 * The HP loss for one batch shape. Build once, then per step: `setStep(λ, seed)` before encoding and
 * `record(rec)` inside the step (a fixed list of dispatches, no allocation, no await). Outputs are
 * overwritten every step.
 */
export class HpLoss {
  /** dL_HP/dz [N, D] (anchor + contrast side; L_HP = GHP + LHP terms of §5.7). */
  readonly dz: GpuTensor;
  /** dL_HP/dz̃ [N, D]. */
  readonly dzt: GpuTensor;
  /**
   * f32[16]: 0 loss_ghp, 1 loss_lhp, 2 loss_hp (= 0 + 1), 3 mean |P_ag_i| over all N anchors,
   * 4 mean |P_sp_i|, 5 kept anchors, 6 mean |D_i|, 7 images with empty K_b, 8 λ (see {@link HP_STATS}).
   */
  readonly stats: GpuTensor;
  /** Per-anchor values [N, 12] (thresholds at slots 0/1 for quantile telemetry; see {@link HP_AUX}). */
  readonly aux: GpuTensor;
  readonly N: number;
  readonly P: number;
  /** The implementation in use. */
  readonly impl: HpLossImpl;
  /** Names of the dispatch groups in recording order (per-pass timing in the bench). */
  readonly passes: readonly string[];
  /** Sparse path: the P_ag, P_sp bit-planes, [rows, ⌈N/32⌉] u32 per chunk (ag, sp, ag, sp, …); else empty. */
  readonly maskPlanes: readonly GpuTensor[];
  #groups: LossStep[][];
  #forwardGroups: number;
  #uniform: GPUBuffer;
  #fields: (lambda: number, seed: number) => ArrayBuffer;
  #owned: GpuTensor[];

  private constructor(
    readonly gpu: Gpu,
    t: { dz: GpuTensor; dzt: GpuTensor; stats: GpuTensor; aux: GpuTensor; planes: GpuTensor[] },
    impl: HpLossImpl,
    groups: Array<[string, LossStep[]]>,
    uniform: GPUBuffer,
    fields: (lambda: number, seed: number) => ArrayBuffer,
    owned: GpuTensor[],
    N: number,
    P: number,
  ) {
    this.dz = t.dz;
    this.dzt = t.dzt;
    this.stats = t.stats;
    this.aux = t.aux;
    this.maskPlanes = t.planes;
    this.impl = impl;
    this.passes = groups.map(([n]) => n);
    this.#groups = groups.map(([, d]) => d);
    this.#forwardGroups = this.passes.indexOf("reduce") + 1;
    this.#uniform = uniform;
    this.#fields = fields;
    this.#owned = owned;
    this.N = N;
    this.P = P;
  }

  /** Compiles the kernels and allocates outputs in `arena`. Throws naming the tensor or limit at fault. */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    dims: HpDims,
    params: HpParams,
    inputs: HpLossInputs,
    options: HpLossOptions = {},
  ): Promise<HpLoss> {
    const { B, S, Df, D, K } = dims;
    const P = S * S, N = B * P;
    for (const [k, v] of Object.entries(dims)) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new TypeError(`${NAME}: dims.${k} must be a positive integer, got ${v}`);
      }
    }
    if (D % 4 !== 0 || D > HP_MAX_D) {
      throw new LimitError(`${NAME}: D = ${D} must be a multiple of 4 and ≤ ${HP_MAX_D}`);
    }
    if (P * N >= 2 ** 32) throw new LimitError(`${NAME}: P·N = ${P * N} overflows the u32 Bernoulli index`);
    if (!(params.tau > 0) || !(params.rho >= 0 && params.rho <= 1)) {
      throw new RangeError(`${NAME}: need tau > 0 and 0 ≤ rho ≤ 1, got tau=${params.tau} rho=${params.rho}`);
    }
    // With a large ρ the random negatives cover most columns and gathers would move ≈ ρ·N²·8D bytes:
    // dense tiles are then the better shape (Potsdam uses ρ = 1).
    const asked = options.impl ?? "auto";
    const sparseOk = B <= SPARSE_MAX_B;
    const impl: HpLossImpl = asked === "dense" || !sparseOk
      ? "dense"
      : asked === "sparse" || params.rho <= SPARSE_MAX_RHO
      ? "sparse"
      : "dense";
    const shared = gpu.limits.maxComputeWorkgroupStorageSize;
    if (impl === "dense" && shared < BWD_SHARED_BYTES) {
      throw new RangeError(
        `${NAME}: backward kernel needs ${BWD_SHARED_BYTES} B of workgroup memory, adapter has ${shared}`,
      );
    }
    const want: Array<[keyof HpLossInputs, number, number]> = [
      ["fhat", N, Df],
      ["shat", N, D],
      ["poolAg", K, Df],
      ["poolSp", K, D],
      ["z", N, D],
      ["zt", N, D],
    ];
    for (const [name, rows, cols] of want) {
      checkDtype(NAME, name, inputs[name], "f32");
      checkExtent(NAME, name, inputs[name], rows * cols);
    }
    const dz = arena.tensor([N, D], "f32", "hp.dz");
    const dzt = arena.tensor([N, D], "f32", "hp.dzt");
    const stats = arena.tensor([16], "f32", "hp.stats");
    const aux = arena.tensor([N, HP_AUX_STRIDE], "f32", "hp.aux");

    const half = (options.maskPrecision ?? "f32") === "f16";
    if (half && impl !== "sparse") {
      throw new RangeError(`${NAME}: mask precision f16 needs the sparse loss path (impl is ${impl})`);
    }
    if (half && !gpu.hasF16) {
      throw new LimitError(
        `${NAME}: mask precision f16 needs the adapter's shader-f16 feature, which it lacks`,
      );
    }
    const [thr, red, cvt] = await Promise.all([
      getKernel(gpu, {
        file: "model/loss_threshold.wgsl",
        source: half ? f16Variant(thresholdSrc, ["x", "pool"]) : thresholdSrc,
        variant: half ? "f16" : undefined,
        bindings: ["read", "read", "rw", "uniform"],
      }),
      getKernel(gpu, {
        file: "model/loss_reduce.wgsl",
        source: reduceSrc,
        bindings: ["rw", "rw", "uniform"],
      }),
      half
        ? getKernel(gpu, { file: "model/loss_f16.wgsl", source: f16Src, bindings: ["read", "rw", "uniform"] })
        : null,
    ]);
    // f16 copies of the mask inputs (even element counts: bindings are whole 4-byte words).
    const maxWg0 = gpu.limits.maxComputeWorkgroupsPerDimension;
    const halves: Array<[keyof HpLossInputs, GpuTensor, Dispatch]> = [];
    if (cvt) {
      for (const name of ["fhat", "shat", "poolAg", "poolSp"] as const) {
        const n = inputs[name].size;
        const t = arena.tensor([n + (n % 2)], "f16", `hp.${name}-f16`);
        const u = arena.uniform(
          packUniform([[n, "u32"], [0, "u32"], [0, "u32"], [0, "u32"]]),
          "hp.f16-params",
        );
        halves.push([name, t, {
          kernel: cvt,
          bindGroup: bindGroup(gpu, cvt, [inputs[name], t, u]),
          workgroups: grid1d(Math.ceil(n / 256), maxWg0),
        }]);
      }
    }
    const maskIn = (name: keyof HpLossInputs) => halves.find(([n]) => n === name)?.[1] ?? inputs[name];
    const thrUniform = (d: number, off: number) =>
      arena.uniform(
        packUniform([[N, "u32"], [K, "u32"], [d, "u32"], [HP_AUX_STRIDE, "u32"], [off, "u32"]]),
        "hp.threshold-params",
      );
    const scale = params.tau / (params.tauBase ?? TAU_BASE);
    const fields = (lambda: number, seed: number) =>
      packUniform([
        [N, "u32"],
        [P, "u32"],
        [B, "u32"],
        [Df, "u32"],
        [D, "u32"],
        [seed >>> 0, "u32"],
        [lambda, "f32"],
        [params.rho, "f32"],
        [1 / params.tau, "f32"],
        [scale, "f32"],
        [0, "u32"],
        [0, "u32"],
      ]);
    const uniform = arena.uniform(fields(0, 0), "hp.params");
    const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
    const rowsGrid = (rowsPerGroup: number) => grid1d(Math.ceil(N / rowsPerGroup), maxWg);
    const thresholds: Array<[string, Dispatch[]]> = [
      ["threshold-ag", [{
        kernel: thr,
        bindGroup: bindGroup(gpu, thr, [maskIn("fhat"), maskIn("poolAg"), aux, thrUniform(Df, HP_AUX.rAg)]),
        workgroups: rowsGrid(128),
      }]],
      ["threshold-sp", [{
        kernel: thr,
        bindGroup: bindGroup(gpu, thr, [maskIn("shat"), maskIn("poolSp"), aux, thrUniform(D, HP_AUX.rSp)]),
        workgroups: rowsGrid(128),
      }]],
    ];
    const reduce: [string, Dispatch[]] = [
      "reduce",
      [{ kernel: red, bindGroup: bindGroup(gpu, red, [aux, stats, uniform]), workgroups: [1, 1, 1] }],
    ];
    let groups: Array<[string, LossStep[]]>;
    let owned: GpuTensor[] = [];
    let planes: GpuTensor[] = [];
    if (impl === "sparse") {
      const sp = await buildSparse(gpu, arena, {
        N,
        P,
        B,
        D,
        rho: params.rho,
        inputs,
        aux,
        dz,
        dzt,
        uniform,
        maxChunkRows: options.maxChunkRows,
        maxPartialSlots: options.maxPartialSlots,
        half: cvt ? { fhat: maskIn("fhat"), shat: maskIn("shat") } : null,
      });
      planes = sp.planes;
      owned = [...sp.owned, ...halves.map(([, t]) => t)];
      const toF16: Array<[string, LossStep[]]> = halves.length
        ? [["mask-f16", halves.map(([, , d]) => d)]]
        : [];
      groups = [...toF16, ...thresholds, ...sp.before, reduce, ...sp.after];
    } else {
      const [fwd, bwd] = await Promise.all([
        getKernel(gpu, {
          file: "model/loss_fwd.wgsl",
          source: fwdSrc,
          bindings: ["read", "read", "read", "read", "rw", "uniform"],
        }),
        getKernel(gpu, {
          file: "model/loss_bwd.wgsl",
          source: bwdSrc,
          bindings: ["read", "read", "read", "read", "rw", "uniform", "uniform"],
        }),
      ]);
      const which = (w: number) => arena.uniform(packUniform([[w, "u32"]]), "hp.bwd-which");
      const bwdDispatch = (y: GpuTensor, out: GpuTensor, w: number): Dispatch => ({
        kernel: bwd,
        bindGroup: bindGroup(gpu, bwd, [inputs.fhat, inputs.shat, y, aux, out, uniform, which(w)]),
        workgroups: rowsGrid(32),
      });
      groups = [
        ...thresholds,
        ["forward", [{
          kernel: fwd,
          bindGroup: bindGroup(gpu, fwd, [inputs.fhat, inputs.shat, inputs.z, inputs.zt, aux, uniform]),
          workgroups: rowsGrid(64),
        }]],
        reduce,
        ["backward-z", [bwdDispatch(inputs.z, dz, 0)]],
        ["backward-zt", [bwdDispatch(inputs.zt, dzt, 1)]],
      ];
    }
    return new HpLoss(gpu, { dz, dzt, stats, aux, planes }, impl, groups, uniform, fields, owned, N, P);
  }

  /** Sets λ_t (weight of task-specific positives) and the u32 seed of this step's Bernoulli negatives. */
  setStep(lambda: number, seed: number): void {
    this.gpu.device.queue.writeBuffer(this.#uniform, 0, this.#fields(lambda, seed));
  }

  /** Records thresholds, masks, forward, reduce and both backward passes. */
  record(rec: StepRecorder): void {
    for (const g of this.#groups) recordSteps(rec, g);
  }

  /** Records pass `i` of {@link passes} alone (benchmarks; passes depend on earlier ones). */
  recordPass(rec: StepRecorder, i: number): void {
    recordSteps(rec, this.#groups[i]);
  }

  /** Records everything up to the reduce pass (losses and stats, no gradients). */
  recordForward(rec: StepRecorder): void {
    for (const g of this.#groups.slice(0, this.#forwardGroups)) recordSteps(rec, g);
  }

  /** GPU dispatches one {@link record} makes (clears are encoder commands, not dispatches). */
  get dispatchCount(): number {
    return this.#groups.reduce((n, g) => n + g.filter((s) => !("clear" in s)).length, 0);
  }

  /** Destroys the tensors this object allocated (uniforms go with the arena). */
  destroy(): void {
    for (const t of [this.dz, this.dzt, this.stats, this.aux, ...this.#owned]) t.destroy();
  }
}

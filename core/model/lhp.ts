/**
 * Local hidden positives (hp-method.md §5.5): mixing coefficients from the backbone's head-averaged
 * pre-softmax attention logits, the mixing s̃ = mix(s) with its backward (§5.9), and the mean LHP set size
 * |L_i| for telemetry. Kernels: shaders/model/lhp_weights.wgsl, shaders/model/lhp_mix.wgsl, shaders/model/lhp_count.wgsl.
 * CPU references: core/model/loss_ref.ts (lhpWeightsRef, lhpMixRef, lhpMixBackwardRef), {@link lhpCountRef}.
 *
 * Layout: coef [N, 9] f32 holds a_ij/n_i for the 3×3 window of anchor i (slot (dy+1)·3 + (dx+1),
 * 0 outside the grid or below the row-mean threshold). The weights depend only on the frozen backbone and
 * the training crop, so a trainer may compute them once per crop and keep them.
 * Cost: weights O(B·P·(P log² P)) per crop (bitonic sort of each row in workgroup memory), mixing 18·N·C.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { checkDtype, checkExtent } from "../kernels/common.ts";
import { LHP_SIGMA } from "./loss_ref.ts";
import weightsSrc from "../../shaders/model/lhp_weights.wgsl" with { type: "text" };
import mixSrc from "../../shaders/model/lhp_mix.wgsl" with { type: "text" };
import countSrc from "../../shaders/model/lhp_count.wgsl" with { type: "text" };
import { LimitError } from "../errors.ts";
import { MAX_TRAIN_PATCHES } from "../limits.ts";

/** Largest P = S² the weights kernel sorts in workgroup memory. */
export const LHP_MAX_P = MAX_TRAIN_PATCHES;

/** LHP coefficients for a batch of B crops with an S×S patch grid. */
export class LhpWeights {
  private constructor(readonly coef: GpuTensor, readonly owned: boolean, readonly dispatch: Dispatch) {}

  /**
   * @param inputs.attn head-averaged attention logits [B, P, P] f32 (row = query patch, column = key).
   * @param opts.coef optional output [N, 9] (e.g. a per-crop cache slot); allocated when absent.
   * @param opts.firstImage write rows from firstImage·P on: lets a trainer feed the attention in chunks
   *   of B images (the full [64, 784, 784] f32 tensor is 157 MB, over lavapipe's 128 MiB binding limit)
   *   into one larger coef tensor.
   */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    dims: { B: number; S: number },
    inputs: { attn: GpuTensor },
    opts: { sigma?: number; coef?: GpuTensor; firstImage?: number } = {},
  ): Promise<LhpWeights> {
    const { B, S } = dims;
    const P = S * S, N = B * P;
    if (!Number.isInteger(B) || B <= 0 || !Number.isInteger(S) || S <= 0) {
      throw new TypeError(`LhpWeights: B and S must be positive integers, got B=${B} S=${S}`);
    }
    if (P > LHP_MAX_P) {
      throw new LimitError(`LhpWeights: P = ${P} exceeds ${LHP_MAX_P} (sorted in workgroup memory)`);
    }
    checkDtype("LhpWeights", "attn", inputs.attn, "f32");
    checkExtent("LhpWeights", "attn", inputs.attn, B * P * P);
    const first = opts.firstImage ?? 0;
    if (!Number.isInteger(first) || first < 0) throw new TypeError(`LhpWeights: bad firstImage ${first}`);
    const coef = opts.coef ?? arena.tensor([(first + B) * P, 9], "f32", "lhp.coef");
    checkExtent("LhpWeights", "coef", coef, (first + B) * P * 9);
    let pp = 1;
    while (pp < P) pp *= 2;
    const kernel = await getKernel(gpu, {
      file: "model/lhp_weights.wgsl",
      source: weightsSrc,
      bindings: ["read", "rw", "uniform"],
    });
    const u = arena.uniform(
      packUniform([[B, "u32"], [S, "u32"], [P, "u32"], [pp, "u32"], [opts.sigma ?? LHP_SIGMA, "f32"], [
        first * P,
        "u32",
      ]]),
      "lhp.weights-params",
    );
    const dispatch = {
      kernel,
      bindGroup: bindGroup(gpu, kernel, [inputs.attn, coef, u]),
      workgroups: grid1d(N, gpu.limits.maxComputeWorkgroupsPerDimension),
    };
    return new LhpWeights(coef, opts.coef === undefined, dispatch);
  }

  /** Records the weights computation (one dispatch, B·P workgroups). */
  record(rec: StepRecorder): void {
    rec.dispatch(this.dispatch);
  }

  destroy(): void {
    if (this.owned) this.coef.destroy();
  }
}

/** Tensors of {@link LhpMix}. */
export interface LhpMixTensors {
  /** [N, 9] from {@link LhpWeights}. */
  coef: GpuTensor;
  /** s [N, C]: the live head output. */
  s: GpuTensor;
  /** dL/ds̃ [N, C] (after the dropout mask of s̃); needed for the backward. */
  dmixed?: GpuTensor;
  /** Output s̃ [N, C]; allocated when absent. */
  mixed?: GpuTensor;
  /** Output dL/ds [N, C]; allocated when absent. */
  ds?: GpuTensor;
}

/** s̃_i = Σ_{j∈N(i)} (a_ij/n_i)·s_j and ds_j (+)= Σ_i (a_ij/n_i)·ds̃_i, as deterministic gathers. */
export class LhpMix {
  private constructor(
    readonly mixed: GpuTensor,
    readonly ds: GpuTensor | null,
    readonly fwd: Dispatch,
    readonly bwd: Dispatch | null,
    readonly owned: GpuTensor[],
  ) {}

  /** @param opts.accumulateGrad add into `ds` instead of overwriting it (s also gets other gradients). */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    dims: { B: number; S: number; C: number },
    t: LhpMixTensors,
    opts: { accumulateGrad?: boolean } = {},
  ): Promise<LhpMix> {
    const { B, S, C } = dims;
    const P = S * S, N = B * P;
    checkExtent("LhpMix", "coef", t.coef, N * 9);
    checkExtent("LhpMix", "s", t.s, N * C);
    const owned: GpuTensor[] = [];
    const mixed = t.mixed ?? arena.tensor([N, C], "f32", "lhp.mixed");
    if (!t.mixed) owned.push(mixed);
    checkExtent("LhpMix", "mixed", mixed, N * C);
    const kernel = (entryPoint: string, acc: boolean) =>
      getKernel(gpu, {
        file: "model/lhp_mix.wgsl",
        source: mixSrc,
        entryPoint,
        bindings: ["read", "read", "rw", "uniform"],
        constants: { ACCUMULATE: acc ? 1 : 0 },
      });
    const u = arena.uniform(packUniform([[N, "u32"], [S, "u32"], [P, "u32"], [C, "u32"]]), "lhp.mix-params");
    const grid = grid1d(Math.ceil((N * C) / 256), gpu.limits.maxComputeWorkgroupsPerDimension);
    const fk = await kernel("forward", false);
    const fwd = { kernel: fk, bindGroup: bindGroup(gpu, fk, [t.coef, t.s, mixed, u]), workgroups: grid };
    let ds: GpuTensor | null = null, bwd: Dispatch | null = null;
    if (t.dmixed) {
      checkExtent("LhpMix", "dmixed", t.dmixed, N * C);
      ds = t.ds ?? arena.tensor([N, C], "f32", "lhp.ds");
      if (!t.ds) owned.push(ds);
      checkExtent("LhpMix", "ds", ds, N * C);
      const bk = await kernel("backward", opts.accumulateGrad ?? false);
      bwd = { kernel: bk, bindGroup: bindGroup(gpu, bk, [t.coef, t.dmixed, ds, u]), workgroups: grid };
    }
    return new LhpMix(mixed, ds, fwd, bwd, owned);
  }

  /** Records s̃ = mix(s). */
  recordForward(rec: StepRecorder): void {
    rec.dispatch(this.fwd);
  }

  /** Records ds (+)= mixᵀ(ds̃). Throws when built without `dmixed`. */
  recordBackward(rec: StepRecorder): void {
    if (!this.bwd) throw new Error("LhpMix.recordBackward: built without a dmixed tensor");
    rec.dispatch(this.bwd);
  }

  destroy(): void {
    for (const t of this.owned) t.destroy();
  }
}

/** CPU reference of {@link LhpCount}: mean over `rows` of the number of positive slots in each coef row. */
export function lhpCountRef(coef: ArrayLike<number>, rows: number): number {
  let c = 0;
  for (let i = 0; i < rows * 9; i++) c += coef[i] > 0 ? 1 : 0;
  return c / Math.max(rows, 1);
}

/**
 * Mean LHP set size (1/rows)·Σ_i |L_i| with L_i = { j ∈ N(i) : a_ij > 0 } (hp-method.md §5.5 step 5) from the
 * coefficients of {@link LhpWeights}: one dispatch of one workgroup into `out[0]`, recorded inside the
 * training step so the metrics capture can copy it without a readback.
 */
export class LhpCount {
  private constructor(readonly out: GpuTensor, readonly owned: boolean, readonly dispatch: Dispatch) {}

  /**
   * @param rows anchors counted (coef rows 0..rows−1)
   * @param t.coef [≥ rows, 9] f32; t.out optional [≥ 1] f32 output (allocated as [4] when absent)
   */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    rows: number,
    t: { coef: GpuTensor; out?: GpuTensor },
  ): Promise<LhpCount> {
    if (!Number.isInteger(rows) || rows <= 0 || 9 * rows >= 2 ** 24) {
      throw new LimitError(
        `LhpCount: rows must be an integer in 1..${Math.floor((2 ** 24 - 1) / 9)}, got ${rows}`,
      );
    }
    checkDtype("LhpCount", "coef", t.coef, "f32");
    checkExtent("LhpCount", "coef", t.coef, rows * 9);
    const out = t.out ?? arena.tensor([4], "f32", "lhp.count");
    checkExtent("LhpCount", "out", out, 1);
    const kernel = await getKernel(gpu, {
      file: "model/lhp_count.wgsl",
      source: countSrc,
      bindings: ["read", "rw", "uniform"],
    });
    const u = arena.uniform(
      packUniform([[rows, "u32"], [0, "u32"], [0, "u32"], [0, "u32"]]),
      "lhp.count-params",
    );
    const dispatch: Dispatch = {
      kernel,
      bindGroup: bindGroup(gpu, kernel, [t.coef, out, u]),
      workgroups: [1, 1, 1],
    };
    return new LhpCount(out, t.out === undefined, dispatch);
  }

  /** Records the count (one dispatch). */
  record(rec: StepRecorder): void {
    rec.dispatch(this.dispatch);
  }

  destroy(): void {
    if (this.owned) this.out.destroy();
  }
}

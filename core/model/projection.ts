/**
 * Projection head (hp-method.md §2.4): z = normalize(W·s + b), W [D, D], b [D] (nn.Linear(D, D)), shared by
 * z, z^aug and z̃. Forward and backward (§5.9): ∂L/∂u = (∂L/∂z − z⟨z, ∂L/∂z⟩)/‖u‖, then dW = ∂uᵀ·s,
 * db = Σ_rows ∂u, ∂L/∂s = ∂u·W. Parameters in one flat buffer (`projectionLayout(D)`, core/model/params.ts)
 * trained by its own Adam (core/kernels/optim.ts). u is computed in the z buffer and normalised in place, so a
 * site holds z [rows, D] and the norms [rows] only.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { prepareColSum } from "../kernels/reduce.ts";
import { prepareWeightGrad } from "../kernels/head_grad.ts";
import {
  l2normalizeBackwardRef,
  l2normalizeRef,
  prepareL2Normalize,
  prepareL2NormalizeBackward,
} from "../kernels/l2norm.ts";
import { PROJECTION_KEYS, projectionLayout } from "./params.ts";

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/** Forward reference: returns u, z and the clamped norms for s [rows, D]. */
export function projectionForwardRef(
  rows: number,
  D: number,
  params: ArrayLike<number>,
  s: ArrayLike<number>,
): { u: Float64Array; z: Float64Array; norms: Float64Array } {
  const L = projectionLayout(D);
  const w = L.get(PROJECTION_KEYS.w).offset, b = L.get(PROJECTION_KEYS.b).offset;
  const u = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < D; o++) {
      let acc = params[b + o];
      for (let k = 0; k < D; k++) acc += params[w + o * D + k] * s[r * D + k];
      u[r * D + o] = acc;
    }
  }
  return { u, ...l2normalizeRef(rows, D, u) };
}

/** Backward reference: flat parameter gradient and ∂L/∂s for ∂L/∂z = dz. */
export function projectionBackwardRef(
  rows: number,
  D: number,
  params: ArrayLike<number>,
  s: ArrayLike<number>,
  dz: ArrayLike<number>,
): { grads: Float64Array; ds: Float64Array } {
  const L = projectionLayout(D);
  const w = L.get(PROJECTION_KEYS.w).offset, b = L.get(PROJECTION_KEYS.b).offset;
  const { z, norms } = projectionForwardRef(rows, D, params, s);
  const du = l2normalizeBackwardRef(rows, D, z, norms, dz);
  const grads = new Float64Array(L.total);
  const ds = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < D; o++) {
      const g = du[r * D + o];
      grads[b + o] += g;
      for (let k = 0; k < D; k++) {
        grads[w + o * D + k] += g * s[r * D + k];
        ds[r * D + k] += g * params[w + o * D + k];
      }
    }
  }
  return { grads, ds };
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/** One prepared projection forward: z = normalize(W·s + b) for `rows` rows of `s`. */
export interface ProjectionForward {
  readonly rows: number;
  readonly D: number;
  readonly params: GpuTensor;
  readonly s: GpuTensor;
  /** z [rows, D] (unit rows). */
  readonly z: GpuTensor;
  /** max(‖u‖, 1e-12) [rows], kept for the backward. */
  readonly norms: GpuTensor;
  record(rec: StepRecorder): void;
}

/** Prepares z = normalize(W·s + b); allocates z and norms unless given. */
export async function prepareProjectionForward(
  gpu: Gpu,
  arena: BufferArena,
  rows: number,
  D: number,
  t: { params: GpuTensor; s: GpuTensor; z?: GpuTensor; norms?: GpuTensor },
): Promise<ProjectionForward> {
  const L = projectionLayout(D);
  if (t.params.size < L.total) {
    throw new TypeError(
      `projection: params "${t.params.label}" has ${t.params.size} values, needs ${L.total}`,
    );
  }
  const z = t.z ?? arena.tensor([rows, D], "f32", "projection-z");
  const norms = t.norms ?? arena.tensor([rows], "f32", "projection-norms");
  const ds: Dispatch[] = [
    await prepareGemm(gpu, arena, {
      M: rows,
      N: D,
      K: D,
      transB: true,
      ldb: D,
      bOffset: L.get(PROJECTION_KEYS.w).offset,
      residual: { ld: 0, offset: L.get(PROJECTION_KEYS.b).offset, batchStride: 0 },
    }, { a: t.s, b: t.params, c: z, residual: t.params }),
    await prepareL2Normalize(gpu, arena, rows, D, { x: z, y: z, norms }),
  ];
  return {
    rows,
    D,
    params: t.params,
    s: t.s,
    z,
    norms,
    record(rec) {
      rec.dispatch(...ds);
    },
  };
}

/** Options of {@link prepareProjectionBackward}. */
export interface ProjectionBackwardOptions {
  /** ∂L/∂z [rows, D]; overwritten with ∂L/∂u (the backward's scratch). */
  dz: GpuTensor;
  /** Flat gradient of the projection parameters. */
  grads: GpuTensor;
  /** Add to `grads` instead of overwriting (every use after the first of a step). */
  accumulateGrads: boolean;
  /** ∂L/∂s [rows, D] output; omitted when the input needs no gradient. */
  ds?: GpuTensor;
  /** Add to `ds` instead of overwriting. */
  accumulateDs?: boolean;
  /** Split-K row slices of dW (default: chosen per GPU, 1 on software adapters). */
  splits?: number;
}

/**
 * Prepares the backward of one projection use. `dz` is turned into ∂L/∂u in place (so the caller's ∂L/∂z
 * is consumed); then dW (+)= ∂uᵀ·s, db (+)= Σ ∂u and ∂L/∂s (+)= ∂u·W.
 */
export async function prepareProjectionBackward(
  gpu: Gpu,
  arena: BufferArena,
  fwd: ProjectionForward,
  o: ProjectionBackwardOptions,
): Promise<{ record(rec: StepRecorder): void }> {
  const { rows, D } = fwd;
  const L = projectionLayout(D);
  if (o.grads.size < L.total) {
    throw new TypeError(
      `projection backward: grads "${o.grads.label}" has ${o.grads.size} values, needs ${L.total}`,
    );
  }
  const wOff = L.get(PROJECTION_KEYS.w).offset;
  const ds: Dispatch[] = [
    await prepareL2NormalizeBackward(gpu, arena, rows, D, { z: fwd.z, norms: fwd.norms, dz: o.dz, du: o.dz }),
    ...await prepareWeightGrad(gpu, arena, {
      M: D,
      N: D,
      rows,
      outOffset: wOff,
      accumulate: o.accumulateGrads,
      splits: o.splits,
    }, { a: o.dz, b: fwd.s, out: o.grads }),
    ...await prepareColSum(gpu, arena, {
      rows,
      cols: D,
      yOffset: L.get(PROJECTION_KEYS.b).offset,
      accumulate: o.accumulateGrads,
    }, { x: o.dz, y: o.grads }),
  ];
  if (o.ds) {
    ds.push(
      await prepareGemm(gpu, arena, {
        M: rows,
        N: D,
        K: D,
        ldb: D,
        bOffset: wOff,
        accumulate: o.accumulateDs ?? false,
      }, { a: o.dz, b: fwd.params, c: o.ds }),
    );
  }
  return {
    record(rec) {
      rec.dispatch(...ds);
    },
  };
}

/**
 * Adam / AdamW over one flat parameter buffer, with optional global-norm gradient clipping computed on the
 * GPU (hp-method.md §6): AdamW (decoupled wd 0.1, β 0.9/0.999, eps 1e-8) clipped at 10 for θ; Adam (no wd,
 * no clipping) for the projection head and the probes. Semantics of torch.optim.Adam/AdamW (PyTorch 1.13,
 * single-tensor path) and torch.nn.utils.clip_grad_norm_ (coefficient min(1, max/(‖g‖ + 1e-6)) applied to
 * the gradient inside the optimiser kernel — no readback). Kernel: shaders/kernels/optim.wgsl.
 *
 * Per step, `record(rec)` advances the step count t, writes the step's uniform (lr, 1−lr·wd, bias
 * corrections — one queue.writeBuffer, landing before the next submit: one optimiser step per submit) and
 * records [‖g‖ partial sums, final norm,] update. The gradient norm stays on the GPU in `gradNorm`
 * ([‖g‖, clip coefficient]) for the trainer's metrics readback and NaN detection.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import { checkExtent, elementGrid } from "./common.ts";
import source from "../../shaders/kernels/optim.wgsl" with { type: "text" };

/** Hyper-parameters of one optimiser. */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Weight decay: decoupled (AdamW) when `decoupled`, else L2 added to the gradient (torch Adam). */
  weightDecay?: number;
  decoupled?: boolean;
  /** Clip the global gradient L2 norm to this value (clip_grad_norm_); none when absent. */
  maxGradNorm?: number;
}

/** Optimiser state saved in checkpoints. */
export interface OptimState {
  /** Steps taken (torch's `state["step"]`). */
  step: number;
  m: Float32Array;
  v: Float32Array;
}

type Resolved = Required<Omit<AdamOptions, "maxGradNorm">> & { maxGradNorm: number | null };

function resolve(o: AdamOptions): Resolved {
  return {
    lr: o.lr,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0,
    decoupled: o.decoupled ?? false,
    maxGradNorm: o.maxGradNorm ?? null,
  };
}

/** AdamW for θ with the HP defaults (§6), overridable. */
export function adamwHead(lr = 5e-4, weightDecay = 0.1, maxGradNorm = 10): AdamOptions {
  return { lr, weightDecay, decoupled: true, maxGradNorm };
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64, the update equations of the PyTorch 1.13 docs)

/**
 * One optimiser step in float64 on copies of the inputs; `step` is the new step count (1 for the first).
 * Returns the new params, moments and the clip information.
 */
export function adamStepRef(
  opts: AdamOptions,
  step: number,
  params: ArrayLike<number>,
  grads: ArrayLike<number>,
  m: ArrayLike<number>,
  v: ArrayLike<number>,
): { params: Float64Array; m: Float64Array; v: Float64Array; norm: number; coef: number } {
  const o = resolve(opts);
  const n = params.length;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += grads[i] * grads[i];
  const norm = Math.sqrt(ss);
  const coef = o.maxGradNorm === null ? 1 : Math.min(1, o.maxGradNorm / (norm + 1e-6));
  const P = Float64Array.from(params), M = Float64Array.from(m), V = Float64Array.from(v);
  const bc1 = 1 - o.beta1 ** step, bc2 = 1 - o.beta2 ** step;
  for (let i = 0; i < n; i++) {
    let g = grads[i] * coef;
    if (o.decoupled) P[i] *= 1 - o.lr * o.weightDecay;
    else g += o.weightDecay * P[i];
    M[i] = o.beta1 * M[i] + (1 - o.beta1) * g;
    V[i] = o.beta2 * V[i] + (1 - o.beta2) * g * g;
    P[i] -= (o.lr / bc1) * M[i] / (Math.sqrt(V[i]) / Math.sqrt(bc2) + o.eps);
  }
  return { params: P, m: M, v: V, norm, coef };
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/** Workgroups of the first gradient-norm pass (fixed, so the summation order never changes). */
function normGroups(n: number): number {
  return Math.max(1, Math.min(256, Math.ceil(n / 4096)));
}

/** One Adam/AdamW over a flat (params, grads) pair; owns the moments and the norm buffer. */
export class FlatAdam {
  /** First and second moments [n]. */
  readonly m: GpuTensor;
  readonly v: GpuTensor;
  /** [‖g‖, clip coefficient] after each step's norm pass (clipping optimisers only). */
  readonly gradNorm: GpuTensor | null;
  #step = 0;
  readonly #opts: Resolved;
  readonly #uniform: GPUBuffer;
  readonly #dispatches: Dispatch[];

  /** @internal use {@link prepareAdam} */
  constructor(
    readonly gpu: Gpu,
    readonly n: number,
    opts: Resolved,
    t: { m: GpuTensor; v: GpuTensor; gradNorm: GpuTensor | null; uniform: GPUBuffer; dispatches: Dispatch[] },
  ) {
    this.#opts = opts;
    this.m = t.m;
    this.v = t.v;
    this.gradNorm = t.gradNorm;
    this.#uniform = t.uniform;
    this.#dispatches = t.dispatches;
  }

  /** Steps taken so far. */
  get step(): number {
    return this.#step;
  }

  /** Learning rate used from the next step on (constant in HP; settable for schedules). */
  get lr(): number {
    return this.#opts.lr;
  }
  set lr(v: number) {
    if (!(v >= 0)) throw new RangeError(`optimiser: lr must be ≥ 0, got ${v}`);
    this.#opts.lr = v;
  }

  /** The uniform of step t (1-based), as the kernel reads it. */
  #pack(t: number): ArrayBuffer {
    const o = this.#opts;
    const bc1 = 1 - o.beta1 ** t;
    const bc2 = 1 - o.beta2 ** t;
    return packUniform([
      [this.n, "u32"],
      [0, "u32"],
      [0, "u32"],
      [0, "u32"],
      [o.decoupled ? 1 - o.lr * o.weightDecay : o.weightDecay, "f32"],
      [o.beta1, "f32"],
      [1 - o.beta1, "f32"],
      [o.beta2, "f32"],
      [1 - o.beta2, "f32"],
      [Math.sqrt(bc2), "f32"],
      [o.eps, "f32"],
      [-(o.lr / bc1), "f32"],
    ]);
  }

  /** Advances the step count, writes this step's uniform and records the norm pass and the update. */
  record(rec: StepRecorder): void {
    this.#step++;
    this.gpu.device.queue.writeBuffer(this.#uniform, 0, this.#pack(this.#step));
    rec.dispatch(...this.#dispatches);
  }

  /** Reads the moments back (outside any step) for a checkpoint. */
  async readState(): Promise<OptimState> {
    return { step: this.#step, m: await readF32(this.gpu, this.m), v: await readF32(this.gpu, this.v) };
  }

  /** Restores moments and step count (from a checkpoint). */
  loadState(s: OptimState): void {
    if (s.m.length !== this.n || s.v.length !== this.n) {
      throw new TypeError(`optimiser state has ${s.m.length}/${s.v.length} moments, expected ${this.n}`);
    }
    if (!Number.isInteger(s.step) || s.step < 0) {
      throw new RangeError(`optimiser step must be ≥ 0, got ${s.step}`);
    }
    this.m.write(s.m);
    this.v.write(s.v);
    this.#step = s.step;
  }
}

/**
 * Prepares Adam/AdamW over `n` elements of flat `params`/`grads` (moments allocated zeroed).
 * @throws TypeError when a buffer is too small; RangeError for a bad hyper-parameter.
 */
export async function prepareAdam(
  gpu: Gpu,
  arena: BufferArena,
  n: number,
  t: { params: GpuTensor; grads: GpuTensor },
  opts: AdamOptions,
  label = "adam",
): Promise<FlatAdam> {
  const o = resolve(opts);
  if (!(o.lr >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps > 0)) {
    throw new RangeError(`${label}: bad hyper-parameters ${JSON.stringify(o)}`);
  }
  if (o.maxGradNorm !== null && !(o.maxGradNorm > 0)) {
    throw new RangeError(`${label}: maxGradNorm must be > 0, got ${o.maxGradNorm}`);
  }
  checkExtent(label, "params", t.params, n);
  checkExtent(label, "grads", t.grads, n);
  const m = arena.tensor([n], "f32", `${label}-m`);
  const v = arena.tensor([n], "f32", `${label}-v`);
  const dispatches: Dispatch[] = [];
  let gradNorm: GpuTensor | null = null;
  if (o.maxGradNorm !== null) {
    const groups = normGroups(n);
    const part = arena.tensor([groups], "f32", `${label}-norm-partials`);
    gradNorm = arena.tensor([2], "f32", `${label}-grad-norm`);
    const nu = arena.uniform(
      packUniform([[n, "u32"], [groups, "u32"], [o.maxGradNorm, "f32"]]),
      `${label}-norm-params`,
    );
    const bind = ["read", "rw", "uniform"] as const;
    const k1 = await getKernel(gpu, {
      file: "kernels/optim.wgsl",
      source,
      entryPoint: "sumsq_partial",
      bindings: [...bind],
    });
    const k2 = await getKernel(gpu, {
      file: "kernels/optim.wgsl",
      source,
      entryPoint: "sumsq_final",
      bindings: [...bind],
    });
    dispatches.push(
      { kernel: k1, bindGroup: bindGroup(gpu, k1, [t.grads, part, nu]), workgroups: [groups, 1, 1] },
      { kernel: k2, bindGroup: bindGroup(gpu, k2, [part, gradNorm, nu]), workgroups: [1, 1, 1] },
    );
  }
  const kernel = await getKernel(gpu, {
    file: "kernels/optim.wgsl",
    source,
    entryPoint: "adam",
    bindings: ["rw", "read", "rw", "rw", "read", "uniform"],
    constants: { HAS_CLIP: gradNorm ? 1 : 0, DECOUPLED: o.decoupled ? 1 : 0 },
  });
  const uniform = arena.uniform(new ArrayBuffer(48), `${label}-params`);
  dispatches.push({
    kernel,
    bindGroup: bindGroup(gpu, kernel, [t.params, t.grads, m, v, gradNorm ?? arena.dummy(), uniform]),
    workgroups: elementGrid(gpu, n),
  });
  return new FlatAdam(gpu, n, o, { m, v, gradNorm, uniform, dispatches });
}

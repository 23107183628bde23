/**
 * Cluster and linear probes trained online on detached codes (hp-method.md §2.5, §8.2, §8.3): losses and
 * gradients into preallocated tensors, recorded into a StepRecorder (no awaits, nothing allocated per step).
 * The optimiser (Adam lr 5e-3 cluster, 1e-3 linear) is the trainer's (core/kernels/optim.ts). Kernel:
 * shaders/model/probes.wgsl; weight gradients through core/kernels/head_grad.ts `prepareWeightGrad` (split-K GEMM),
 * the cluster loss and the linear bias gradient through core/kernels/reduce.ts (`prepareRowReduce`,
 * `prepareColSum`).
 *
 * Shapes (hp-method.md §0): code [N, D], N = B·P, P = Sh·Sw, row = b·P + y·Sw + x; labels [B, H, W] Int32.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d, type Kernel } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { prepareColSum, prepareRowReduce } from "../kernels/reduce.ts";
import { prepareWeightGrad } from "../kernels/head_grad.ts";
import { Rng } from "../rng.ts";
import source from "../../shaders/model/probes.wgsl" with { type: "text" };

const EPS = 1e-12;

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/** PyTorch bilinear (align_corners=false) taps of output index `o`: [i0, i1, λ]. */
export function bilinearTaps(o: number, inSize: number, outSize: number): [number, number, number] {
  const src = Math.max((o + 0.5) * (inSize / outSize) - 0.5, 0);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
}

/**
 * Cluster probe loss −mean_i max_k cos(code_i, C_k) and its gradient wrt C (codes detached).
 * @returns loss and grad [n, D]
 */
export function clusterProbeRef(
  code: ArrayLike<number>,
  C: ArrayLike<number>,
  N: number,
  n: number,
  D: number,
): { loss: number; grad: Float64Array } {
  const cn = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += C[k * D + d] ** 2;
    cn[k] = Math.max(Math.sqrt(s), EPS);
  }
  const grad = new Float64Array(n * D);
  let loss = 0;
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += code[i * D + d] ** 2;
    const un = Math.max(Math.sqrt(s), EPS);
    let best = 0, bv = -Infinity;
    for (let k = 0; k < n; k++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += code[i * D + d] * C[k * D + d];
      const c = dot / (un * cn[k]);
      if (c > bv) [bv, best] = [c, k];
    }
    loss -= bv / N;
    // ∂(−cos/N)/∂C_k = −(u − cos·ĉ)/(N‖C_k‖)
    for (let d = 0; d < D; d++) {
      grad[best * D + d] -= (code[i * D + d] / un - bv * C[best * D + d] / cn[best]) / (N * cn[best]);
    }
  }
  return { loss, grad };
}

/** Geometry of the linear probe's upsampled loss. */
export interface LinearGeom {
  B: number;
  Sh: number;
  Sw: number;
  H: number;
  W: number;
}

/** Bilinearly upsampled [B·H·W, n] logits of Z [B·Sh·Sw, n] (float64). */
export function upsampleRef(z: ArrayLike<number>, n: number, g: LinearGeom): Float64Array {
  const out = new Float64Array(g.B * g.H * g.W * n);
  for (let b = 0; b < g.B; b++) {
    for (let oy = 0; oy < g.H; oy++) {
      const [y0, y1, ly] = bilinearTaps(oy, g.Sh, g.H);
      for (let ox = 0; ox < g.W; ox++) {
        const [x0, x1, lx] = bilinearTaps(ox, g.Sw, g.W);
        const r = (y: number, x: number) => (b * g.Sh * g.Sw + y * g.Sw + x) * n;
        const o = ((b * g.H + oy) * g.W + ox) * n;
        for (let k = 0; k < n; k++) {
          out[o + k] = (1 - ly) * ((1 - lx) * z[r(y0, x0) + k] + lx * z[r(y0, x1) + k]) +
            ly * ((1 - lx) * z[r(y1, x0) + k] + lx * z[r(y1, x1) + k]);
        }
      }
    }
  }
  return out;
}

/**
 * Linear probe: logits Z = code·Wᵀ + b at Sh×Sw, bilinear upsample to H×W, cross-entropy averaged over
 * pixels with 0 ≤ label < n. Returns the loss and gradients wrt W [n, D] and b [n].
 */
export function linearProbeRef(
  code: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  D: number,
  g: LinearGeom,
): { loss: number; gradW: Float64Array; gradB: Float64Array; valid: number } {
  const N = g.B * g.Sh * g.Sw;
  const z = new Float64Array(N * n);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < n; k++) {
      let s = bias[k];
      for (let d = 0; d < D; d++) s += code[i * D + d] * weight[k * D + d];
      z[i * n + k] = s;
    }
  }
  let valid = 0, loss = 0;
  const gz = new Float64Array(N * n);
  const pix = g.B * g.H * g.W;
  for (let o = 0; o < pix; o++) if (labels[o] >= 0 && labels[o] < n) valid++;
  for (let b = 0; b < g.B; b++) {
    for (let oy = 0; oy < g.H; oy++) {
      const [y0, y1, ly] = bilinearTaps(oy, g.Sh, g.H);
      for (let ox = 0; ox < g.W; ox++) {
        const o = (b * g.H + oy) * g.W + ox, lab = labels[o];
        if (!(lab >= 0 && lab < n)) continue;
        const [x0, x1, lx] = bilinearTaps(ox, g.Sw, g.W);
        const taps: Array<[number, number]> = [
          [b * g.Sh * g.Sw + y0 * g.Sw + x0, (1 - ly) * (1 - lx)],
          [b * g.Sh * g.Sw + y0 * g.Sw + x1, (1 - ly) * lx],
          [b * g.Sh * g.Sw + y1 * g.Sw + x0, ly * (1 - lx)],
          [b * g.Sh * g.Sw + y1 * g.Sw + x1, ly * lx],
        ];
        const u = new Float64Array(n);
        for (const [r, w] of taps) for (let k = 0; k < n; k++) u[k] += w * z[r * n + k];
        const m = Math.max(...u);
        let s = 0;
        for (let k = 0; k < n; k++) s += Math.exp(u[k] - m);
        const lse = m + Math.log(s);
        loss += (lse - u[lab]) / valid;
        for (let k = 0; k < n; k++) {
          const gk = (Math.exp(u[k] - lse) - (k === lab ? 1 : 0)) / valid;
          for (const [r, w] of taps) gz[r * n + k] += w * gk;
        }
      }
    }
  }
  const gradW = new Float64Array(n * D), gradB = new Float64Array(n);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < n; k++) {
      gradB[k] += gz[i * n + k];
      for (let d = 0; d < D; d++) gradW[k * D + d] += gz[i * n + k] * code[i * D + d];
    }
  }
  return { loss: valid ? loss : 0, gradW, gradB, valid };
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

async function kernel(gpu: Gpu, entryPoint: string): Promise<Kernel> {
  return await getKernel(gpu, {
    file: "model/probes.wgsl",
    source,
    entryPoint,
    bindings: ["read", "rw", "rw", "rw", "rw", "uniform"],
  });
}

interface UniformFields {
  N?: number;
  n?: number;
  D?: number;
  B?: number;
  Sh?: number;
  Sw?: number;
  H?: number;
  W?: number;
  partials?: number;
  outOff?: number;
}

function uniform(arena: BufferArena, f: UniformFields, label: string): GPUBuffer {
  return arena.uniform(
    packUniform([
      [f.N ?? 0, "u32"],
      [f.n ?? 0, "u32"],
      [f.D ?? 0, "u32"],
      [f.B ?? 0, "u32"],
      [f.Sh ?? 0, "u32"],
      [f.Sw ?? 0, "u32"],
      [f.H ?? 0, "u32"],
      [f.W ?? 0, "u32"],
      [f.partials ?? 0, "u32"],
      [f.outOff ?? 0, "u32"],
      [0, "u32"],
      [0, "u32"],
    ]),
    label,
  );
}

/** Four distinct 4-byte tensors for unused writable bindings (writable bindings must not alias). */
function dummies(arena: BufferArena, owned: GpuTensor[]): GpuTensor[] {
  const d = [0, 1, 2, 3].map((i) => arena.tensor([1], "f32", `probe-dummy-${i}`));
  owned.push(...d);
  return d;
}

function check(t: GpuTensor, size: number, what: string): void {
  if (t.size < size) throw new TypeError(`probe: ${what} "${t.label}" has ${t.size} values, needs ${size}`);
}

/** Sizes of a cluster probe. */
export interface ClusterProbeShape {
  /** Clusters (= classes). */
  n: number;
  /** Code width. */
  D: number;
  /** Code rows per step (B·P). */
  N: number;
}

/**
 * Cluster probe (hp-method.md §8.2): centroids C [n, D] initialised N(0,1); loss −mean_i max_k cos; gradient
 * wrt C only. `record(rec)` writes `grad` [n, D] and `loss` [1] from the bound `code`.
 */
export class ClusterProbe {
  #owned: GpuTensor[] = [];
  private constructor(
    readonly shape: ClusterProbeShape,
    /** Centroids C [n, D] (what the optimiser updates). */
    readonly params: GpuTensor,
    /** ∂L/∂C [n, D], overwritten by every `record`. */
    readonly grad: GpuTensor,
    /** [1]: the loss of the last recorded step (read back by the trainer every N steps). */
    readonly loss: GpuTensor,
    /** Normalised centroids Ĉ [n, D] (also used by evaluation). */
    readonly normed: GpuTensor,
    readonly dispatches: Dispatch[],
    owned: GpuTensor[],
  ) {
    this.#owned = owned;
  }

  /**
   * Allocates the probe and binds it to `code` [N, D].
   * @param init centroids [n, D]; default N(0,1) draws from `seed`
   */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    shape: ClusterProbeShape,
    code: GpuTensor,
    opts: { init?: Float32Array; seed?: number } = {},
  ): Promise<ClusterProbe> {
    const { n, D, N } = shape;
    check(code, N * D, "code");
    let init = opts.init;
    if (!init) {
      const rng = new Rng(opts.seed ?? 0);
      init = Float32Array.from({ length: n * D }, () => rng.normal());
    }
    if (init.length !== n * D) {
      throw new TypeError(`ClusterProbe: init has ${init.length} values, needs ${n}×${D}`);
    }
    const owned: GpuTensor[] = [];
    const t = (shp: number[], label: string) => {
      const x = arena.tensor(shp, "f32", label);
      owned.push(x);
      return x;
    };
    const params = t([n, D], "cluster-probe-C");
    params.write(init);
    const grad = t([n, D], "cluster-probe-grad"), loss = t([1], "cluster-probe-loss");
    const normed = t([n, D], "cluster-probe-Chat"), cinv = t([n], "cluster-probe-cinv");
    const raw = t([N, n], "cluster-probe-raw"), w = t([N, n], "cluster-probe-W");
    const rowval = t([N], "cluster-probe-maxcos"), S = t([n, D], "cluster-probe-S");
    const dm = dummies(arena, owned);
    const u = uniform(arena, { N, n, D }, "cluster-probe-params");
    const [kNorm, kAssign, kGrad] = await Promise.all(
      ["cluster_norm", "cluster_assign", "cluster_grad"].map((e) => kernel(gpu, e)),
    );
    const bg = (k: Kernel, r: GpuTensor[]) => bindGroup(gpu, k, [...r, ...dm.slice(r.length - 1), u]);
    const dispatches: Dispatch[] = [
      { kernel: kNorm, bindGroup: bg(kNorm, [params, normed, cinv]), workgroups: [n, 1, 1] },
      await prepareGemm(gpu, arena, { M: N, N: n, K: D, transB: true }, { a: code, b: normed, c: raw }),
      {
        kernel: kAssign,
        bindGroup: bg(kAssign, [code, raw, w, rowval]),
        workgroups: grid1d(N, gpu.limits.maxComputeWorkgroupsPerDimension),
      },
      ...await prepareWeightGrad(gpu, arena, { M: n, N: D, rows: N, outOffset: 0, accumulate: false }, {
        a: w,
        b: code,
        out: S,
      }),
      { kernel: kGrad, bindGroup: bg(kGrad, [S, normed, cinv, grad]), workgroups: [n, 1, 1] },
      // loss = −mean_i max cosine (library row reduction over the one row rowval).
      await prepareRowReduce(gpu, arena, "sum", { rows: 1, cols: N, alpha: -1 / N }, { x: rowval, y: loss }),
    ];
    return new ClusterProbe(shape, params, grad, loss, normed, dispatches, owned);
  }

  /** Records loss and gradient for the current contents of `code` (no await, no allocation). */
  record(rec: StepRecorder): void {
    rec.dispatch(...this.dispatches);
  }

  /** Frees the probe's own tensors (uniforms go with the arena). */
  destroy(): void {
    for (const t of this.#owned) t.destroy();
  }
}

/**
 * Prepares the linear probe's logits at code resolution, Z [N, n] = code [N, D] · Wᵀ + b, with `params`
 * the flat [n·D + n] layout (weight [n, D], then bias [n]); one GEMM with the bias as a broadcast residual.
 * Shared by {@link LinearProbe} (training) and the evaluation Predictor.
 */
export function prepareLinearLogits(
  gpu: Gpu,
  arena: BufferArena,
  s: { N: number; n: number; D: number },
  t: { code: GpuTensor; params: GpuTensor; z: GpuTensor },
): Promise<Dispatch> {
  return prepareGemm(gpu, arena, {
    M: s.N,
    N: s.n,
    K: s.D,
    transB: true,
    residual: { ld: 0, offset: s.n * s.D, batchStride: 0 },
  }, { a: t.code, b: t.params, c: t.z, residual: t.params });
}

/** Sizes of a linear probe. */
export interface LinearProbeShape extends LinearGeom {
  n: number;
  D: number;
}

/**
 * Linear probe (hp-method.md §8.3): 1×1 conv D → n with bias on the Sh×Sw code, bilinear upsampling of the
 * logits to H×W, cross-entropy over pixels with 0 ≤ label < n (mean over valid pixels). Parameters are one
 * flat tensor [n·D + n] = weight [n, D] then bias [n], and so is `grad`. `loss` is [2]: mean CE and the
 * number of valid pixels.
 */
export class LinearProbe {
  #owned: GpuTensor[];
  private constructor(
    readonly shape: LinearProbeShape,
    readonly params: GpuTensor,
    readonly grad: GpuTensor,
    readonly loss: GpuTensor,
    readonly dispatches: Dispatch[],
    owned: GpuTensor[],
  ) {
    this.#owned = owned;
  }

  /**
   * Allocates the probe and binds it to `code` [B·Sh·Sw, D] and `labels` [B, H, W] (i32).
   * @param init flat [n·D + n]; default PyTorch's Conv2d init U(±1/√D) from `seed`
   */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    shape: LinearProbeShape,
    code: GpuTensor,
    labels: GpuTensor,
    opts: { init?: Float32Array; seed?: number } = {},
  ): Promise<LinearProbe> {
    const { n, D, B, Sh, Sw, H, W } = shape;
    const N = B * Sh * Sw, pix = B * H * W;
    check(code, N * D, "code");
    check(labels, pix, "labels");
    if (labels.dtype !== "i32") throw new TypeError(`LinearProbe: labels "${labels.label}" must be i32`);
    let init = opts.init;
    if (!init) {
      const rng = new Rng(opts.seed ?? 1), a = 1 / Math.sqrt(D);
      init = Float32Array.from({ length: n * D + n }, () => rng.uniform(-a, a));
    }
    if (init.length !== n * D + n) {
      throw new TypeError(`LinearProbe: init has ${init.length} values, needs ${n * D + n}`);
    }
    const owned: GpuTensor[] = [];
    const t = (shp: number[], label: string) => {
      const x = arena.tensor(shp, "f32", label);
      owned.push(x);
      return x;
    };
    const params = t([n * D + n], "linear-probe-params");
    params.write(init);
    const grad = t([n * D + n], "linear-probe-grad"), loss = t([2], "linear-probe-loss");
    const z = t([N, n], "linear-probe-Z"),
      dz = t([N, n], "linear-probe-dZ"),
      lse = t([pix], "linear-probe-lse");
    const groups = Math.ceil(pix / 256);
    const partial = t([groups * 2], "linear-probe-partial");
    const dm = dummies(arena, owned);
    const u = uniform(
      arena,
      { N, n, D, B, Sh, Sw, H, W, partials: groups, outOff: 0 },
      "linear-probe-params",
    );
    const [kLse, kLoss, kGradZ] = await Promise.all(
      ["linear_lse", "linear_loss", "linear_grad_z"].map((e) => kernel(gpu, e)),
    );
    const bg = (k: Kernel, r: GpuTensor[], uu = u) =>
      bindGroup(gpu, k, [...r, ...dm.slice(r.length - 1), uu]);
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    const dispatches: Dispatch[] = [
      await prepareLinearLogits(gpu, arena, { N, n, D }, { code, params, z }),
      { kernel: kLse, bindGroup: bg(kLse, [z, labels, lse, partial]), workgroups: grid1d(groups, maxDim) },
      { kernel: kLoss, bindGroup: bg(kLoss, [partial, loss]), workgroups: [1, 1, 1] },
      {
        kernel: kGradZ,
        bindGroup: bg(kGradZ, [z, labels, lse, loss, dz]),
        workgroups: grid1d(Math.ceil(N * n / 256), maxDim),
      },
      ...await prepareWeightGrad(gpu, arena, { M: n, N: D, rows: N, outOffset: 0, accumulate: false }, {
        a: dz,
        b: code,
        out: grad,
      }),
      // Bias gradient: column sums of dZ (deterministic library reduction).
      ...await prepareColSum(gpu, arena, { rows: N, cols: n, yOffset: n * D }, { x: dz, y: grad }),
    ];
    return new LinearProbe(shape, params, grad, loss, dispatches, owned);
  }

  /** Records loss and gradients for the current `code` and `labels` (no await, no allocation). */
  record(rec: StepRecorder): void {
    rec.dispatch(...this.dispatches);
  }

  destroy(): void {
    for (const t of this.#owned) t.destroy();
  }
}

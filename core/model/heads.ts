/**
 * Segmentation head θ and EMA head ξ (hp-method.md §2.2, §2.3, §2.6):
 *   code = W1·drop_a(F) + b1 + W3·relu(W2·drop_b(F) + b2) + b3      F [N, D_f] → code [N, D]
 * as GEMMs over rows (1×1 convs), forward in train mode (two independent Dropout2d draws), eval mode (no
 * dropout) and EMA mode (train mode with ξ, plus one more Dropout2d on the returned code), and the
 * backward into θ's flat gradient buffer (no gradient into the frozen F).
 *
 * Parameters live in one flat buffer laid out by `headLayout(D_f, D)` (core/model/params.ts); GEMMs address
 * W1, W2, W3 by offset and add b1, b3 through a row-broadcast residual (ld 0). b2 must precede the ReLU, so
 * it goes through the GEMM bias binding: each forward records a 4·D_f-byte copy of b2 into its own buffer.
 *
 * Memory: a train site keeps H = relu(W2·drop_b(F) + b2) [N, D_f] and code [N, D]; the dropout'd input goes
 * to a scratch [N, D_f] that all sites may share, because the backward recomputes drop_a(F) and drop_b(F)
 * from the same seeds instead of keeping them. The backward overwrites H (its last use).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { prepareElementwise } from "../kernels/elementwise.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { prepareColSum } from "../kernels/reduce.ts";
import type { Rng } from "../rng.ts";
import { type Dropout2d, dropout2dRef, DROPOUT_P, prepareDropout2d } from "../kernels/dropout.ts";
import { prepareWeightGrad } from "../kernels/head_grad.ts";
import { HEAD_KEYS, headLayout, type ParamLayout } from "./params.ts";

/** Sizes of one head application. */
export interface HeadDims {
  /** Rows (patches) N. */
  rows: number;
  /** Backbone width D_f. */
  Df: number;
  /** Code width D. */
  D: number;
  /** Rows per image for the Dropout2d masks (P = S²; 1 when each row is its own image). */
  P: number;
  /** Probability of every Dropout2d of the train and ema modes (config head.dropout; default DROPOUT_P). */
  dropout?: number;
}

/** "train": dropout on both branch inputs; "eval": none; "ema": train + Dropout2d on the returned code. */
export type HeadMode = "train" | "eval" | "ema";

/** The u32 seeds of one forward's dropout draws (a: linear branch input, b: MLP input, out: EMA code). */
export interface HeadSeeds {
  a: number;
  b: number;
  out?: number;
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/** Everything the float64 reference forward computes. */
export interface HeadForwardRef {
  code: Float64Array;
  hidden: Float64Array;
  fa: Float64Array;
  fb: Float64Array;
}

/** CPU reference forward; `seeds` null = eval mode. `params` is the flat θ/ξ buffer. */
export function headForwardRef(
  dims: HeadDims,
  params: ArrayLike<number>,
  F: ArrayLike<number>,
  seeds: HeadSeeds | null,
): HeadForwardRef {
  const { rows, Df, D, P, dropout: p } = dims;
  const L = headLayout(Df, D);
  const o = (k: string) => L.get(k).offset;
  const fa = seeds ? dropout2dRef({ rows, C: Df, P, p }, seeds.a, F) : Float64Array.from(F);
  const fb = seeds ? dropout2dRef({ rows, C: Df, P, p }, seeds.b, F) : Float64Array.from(F);
  const hidden = new Float64Array(rows * Df);
  let code: Float64Array = new Float64Array(rows * D);
  const [w1, b1, w2, b2, w3, b3] = [
    o(HEAD_KEYS.w1),
    o(HEAD_KEYS.b1),
    o(HEAD_KEYS.w2),
    o(HEAD_KEYS.b2),
    o(HEAD_KEYS.w3),
    o(HEAD_KEYS.b3),
  ];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < Df; j++) {
      let acc = params[b2 + j];
      for (let k = 0; k < Df; k++) acc += params[w2 + j * Df + k] * fb[r * Df + k];
      hidden[r * Df + j] = Math.max(acc, 0);
    }
    for (let d = 0; d < D; d++) {
      let acc = params[b1 + d] + params[b3 + d];
      for (let k = 0; k < Df; k++) {
        acc += params[w1 + d * Df + k] * fa[r * Df + k] + params[w3 + d * Df + k] * hidden[r * Df + k];
      }
      code[r * D + d] = acc;
    }
  }
  if (seeds?.out !== undefined) code = dropout2dRef({ rows, C: D, P, p }, seeds.out, code);
  return { code, hidden, fa, fb };
}

/** CPU reference backward: the flat gradient (layout of θ) of Σ code ⊙ dCode, for a train-mode forward. */
export function headBackwardRef(
  dims: HeadDims,
  params: ArrayLike<number>,
  F: ArrayLike<number>,
  seeds: HeadSeeds | null,
  dCode: ArrayLike<number>,
): Float64Array {
  const { rows, Df, D } = dims;
  const L = headLayout(Df, D);
  const o = (k: string) => L.get(k).offset;
  const { hidden, fa, fb } = headForwardRef(dims, params, F, seeds ? { a: seeds.a, b: seeds.b } : null);
  const g = new Float64Array(L.total);
  const w3 = o(HEAD_KEYS.w3);
  const dPre = new Float64Array(Df);
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < D; d++) {
      const gd = dCode[r * D + d];
      g[o(HEAD_KEYS.b1) + d] += gd;
      g[o(HEAD_KEYS.b3) + d] += gd;
      for (let k = 0; k < Df; k++) {
        g[o(HEAD_KEYS.w1) + d * Df + k] += gd * fa[r * Df + k];
        g[w3 + d * Df + k] += gd * hidden[r * Df + k];
      }
    }
    for (let k = 0; k < Df; k++) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += dCode[r * D + d] * params[w3 + d * Df + k];
      dPre[k] = hidden[r * Df + k] > 0 ? acc : 0;
    }
    for (let j = 0; j < Df; j++) {
      g[o(HEAD_KEYS.b2) + j] += dPre[j];
      for (let k = 0; k < Df; k++) g[o(HEAD_KEYS.w2) + j * Df + k] += dPre[j] * fb[r * Df + k];
    }
  }
  return g;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/** Buffers a forward site reads and writes. */
export interface HeadForwardTensors {
  /** Flat θ or ξ ([layout.total]). */
  params: GpuTensor;
  /** Backbone features F [rows, D_f] (never written). */
  features: GpuTensor;
  /** Dropout'd-input scratch [rows, D_f], shareable between sites (train / ema modes). */
  scratch?: GpuTensor;
  /** Output code [rows, D] (allocated when absent). */
  code?: GpuTensor;
  /** H [rows, D_f] (allocated when absent). A train site whose backward will run must own it until then. */
  hidden?: GpuTensor;
}

/** One prepared head forward. Call `setSeeds` (train / ema) once per step, then `record`. */
export class HeadForward {
  /** drop_a(F) → scratch (linear-branch input; the backward records it again). Null in eval mode. */
  readonly dropA: Dropout2d | null;
  /** drop_b(F) → scratch (MLP-branch input). Null in eval mode. */
  readonly dropB: Dropout2d | null;
  /** drop_b(F) into `hidden` (used by the backward; same seed as dropB). */
  readonly dropBToHidden: Dropout2d | null;
  /** Dropout2d on the returned code, in place (ema mode only). */
  readonly dropOut: Dropout2d | null;

  /** @internal use {@link prepareHeadForward} */
  constructor(
    readonly dims: HeadDims,
    readonly mode: HeadMode,
    readonly layout: ParamLayout,
    readonly t: Required<Omit<HeadForwardTensors, "scratch">> & { scratch: GpuTensor | null },
    readonly b2: GpuTensor,
    readonly gemms: { hidden: Dispatch; linear: Dispatch; mlp: Dispatch },
    drops: { a: Dropout2d | null; b: Dropout2d | null; bh: Dropout2d | null; out: Dropout2d | null },
  ) {
    this.dropA = drops.a;
    this.dropB = drops.b;
    this.dropBToHidden = drops.bh;
    this.dropOut = drops.out;
  }

  /** Every Dropout2d this site records (none in eval mode). */
  dropouts(): Dropout2d[] {
    return [this.dropA, this.dropB, this.dropBToHidden, this.dropOut].filter((d) => d !== null);
  }

  /** The output code [rows, D]. */
  get code(): GpuTensor {
    return this.t.code;
  }
  /** H = relu(W2·drop_b(F) + b2) [rows, D_f] after the forward (overwritten by the backward). */
  get hidden(): GpuTensor {
    return this.t.hidden;
  }

  /** Writes this step's dropout seeds (train / ema modes; `out` is required in ema mode). */
  setSeeds(seeds: HeadSeeds): void {
    if (this.mode === "eval") return;
    this.dropA!.setSeed(seeds.a);
    this.dropB!.setSeed(seeds.b);
    this.dropBToHidden?.setSeed(seeds.b);
    if (this.mode === "ema") {
      if (seeds.out === undefined) throw new TypeError("HeadForward.setSeeds: ema mode needs seeds.out");
      this.dropOut!.setSeed(seeds.out);
    }
  }

  /** Draws this step's seeds from `rng` in the fixed order a, b, (out) and writes them. */
  drawSeeds(rng: Rng): HeadSeeds {
    if (this.mode === "eval") return { a: 0, b: 0 };
    const seeds: HeadSeeds = { a: rng.nextU32(), b: rng.nextU32() };
    if (this.mode === "ema") seeds.out = rng.nextU32();
    this.setSeeds(seeds);
    return seeds;
  }

  /** Records the forward (no await, nothing allocated). */
  record(rec: StepRecorder): void {
    const offB2 = this.layout.get(HEAD_KEYS.b2).offset;
    rec.copy(this.t.params, this.b2, this.dims.Df * 4, offB2 * 4, 0);
    if (this.dropB) rec.dispatch(this.dropB.dispatch);
    rec.dispatch(this.gemms.hidden);
    if (this.dropA) rec.dispatch(this.dropA.dispatch);
    rec.dispatch(this.gemms.linear, this.gemms.mlp);
    if (this.dropOut) rec.dispatch(this.dropOut.dispatch);
  }
}

/**
 * Prepares one head forward site (bind groups and uniforms made once; `record` allocates nothing).
 * @throws TypeError when a tensor is too small for `dims` or a train/ema site lacks its scratch.
 */
export async function prepareHeadForward(
  gpu: Gpu,
  arena: BufferArena,
  dims: HeadDims,
  mode: HeadMode,
  tensors: HeadForwardTensors,
): Promise<HeadForward> {
  const { rows, Df, D, P } = dims;
  const layout = headLayout(Df, D);
  if (tensors.params.size < layout.total) {
    throw new TypeError(
      `head: params "${tensors.params.label}" has ${tensors.params.size} values, needs ${layout.total}`,
    );
  }
  if (mode !== "eval" && !tensors.scratch) {
    throw new TypeError(`head: ${mode} mode needs a scratch [${rows}, ${Df}]`);
  }
  const code = tensors.code ?? arena.tensor([rows, D], "f32", `head-${mode}-code`);
  const hidden = tensors.hidden ?? arena.tensor([rows, Df], "f32", `head-${mode}-hidden`);
  const b2 = arena.tensor([Df], "f32", `head-${mode}-b2`);
  const scratch = mode === "eval" ? null : tensors.scratch!;
  const input = scratch ?? tensors.features;
  const dshape = { rows, C: Df, P, p: dims.dropout ?? DROPOUT_P };
  const drops = {
    a: scratch ? await prepareDropout2d(gpu, arena, dshape, tensors.features, scratch) : null,
    b: scratch ? await prepareDropout2d(gpu, arena, dshape, tensors.features, scratch) : null,
    bh: mode === "train" ? await prepareDropout2d(gpu, arena, dshape, tensors.features, hidden) : null,
    out: mode === "ema" ? await prepareDropout2d(gpu, arena, { ...dshape, C: D }, code, code) : null,
  };
  const off = (k: string) => layout.get(k).offset;
  const p = tensors.params;
  const gemms = {
    hidden: await prepareGemm(gpu, arena, {
      M: rows,
      N: Df,
      K: Df,
      transB: true,
      ldb: Df,
      bOffset: off(HEAD_KEYS.w2),
      act: "relu",
    }, { a: input, b: p, c: hidden, bias: b2 }),
    linear: await prepareGemm(gpu, arena, {
      M: rows,
      N: D,
      K: Df,
      transB: true,
      ldb: Df,
      bOffset: off(HEAD_KEYS.w1),
      residual: { ld: 0, offset: off(HEAD_KEYS.b1), batchStride: 0 },
    }, { a: input, b: p, c: code, residual: p }),
    mlp: await prepareGemm(gpu, arena, {
      M: rows,
      N: D,
      K: Df,
      transB: true,
      ldb: Df,
      bOffset: off(HEAD_KEYS.w3),
      residual: { ld: 0, offset: off(HEAD_KEYS.b3), batchStride: 0 },
      accumulate: true,
    }, { a: hidden, b: p, c: code, residual: p }),
  };
  return new HeadForward(
    dims,
    mode,
    layout,
    { params: p, features: tensors.features, scratch, code, hidden },
    b2,
    gemms,
    drops,
  );
}

/** A prepared head backward; `record` after the loss wrote ∂L/∂code. */
export interface HeadBackward {
  readonly dispatchCount: number;
  record(rec: StepRecorder): void;
}

/**
 * Prepares the backward of a train-mode site: writes (or, with `accumulate`, adds) ∂L/∂θ into `grads`
 * (flat, θ's layout) from `dCode` [rows, D]. Recomputes drop_a(F) into the scratch and drop_b(F) into
 * H with the forward's seeds, so record it in the same step as its forward, after any other use of H.
 * With several sites (clean and augmented view), give the first `accumulate: false` and the rest true.
 * `splits` forces the split-K row slices of the weight gradients (default: chosen per GPU, 1 on software).
 */
export async function prepareHeadBackward(
  gpu: Gpu,
  arena: BufferArena,
  site: HeadForward,
  t: { dCode: GpuTensor; grads: GpuTensor },
  accumulate: boolean,
  splits?: number,
): Promise<HeadBackward> {
  if (site.mode !== "train") throw new TypeError(`head backward needs a train-mode site, got ${site.mode}`);
  const { rows, Df, D } = site.dims;
  const L = site.layout;
  const off = (k: string) => L.get(k).offset;
  if (t.grads.size < L.total) {
    throw new TypeError(
      `head backward: grads "${t.grads.label}" has ${t.grads.size} values, needs ${L.total}`,
    );
  }
  const scratch = site.t.scratch!;
  const hidden = site.hidden;
  const dW = (cOff: number, a: GpuTensor, b: GpuTensor, M: number) =>
    prepareWeightGrad(gpu, arena, { M, N: Df, rows, outOffset: cOff, accumulate, splits }, {
      a,
      b,
      out: t.grads,
    });
  const steps: Dispatch[][] = [
    [site.dropA!.dispatch],
    await dW(off(HEAD_KEYS.w1), t.dCode, scratch, D),
    await dW(off(HEAD_KEYS.w3), t.dCode, hidden, D),
    await prepareColSum(gpu, arena, {
      rows,
      cols: D,
      yOffset: off(HEAD_KEYS.b1),
      yOffset2: off(HEAD_KEYS.b3),
      accumulate,
    }, { x: t.dCode, y: t.grads }),
    // ∂L/∂H = dCode · W3 into the scratch (drop_a(F) is no longer needed), then the ReLU mask.
    [
      await prepareGemm(gpu, arena, { M: rows, N: Df, K: D, ldb: Df, bOffset: off(HEAD_KEYS.w3) }, {
        a: t.dCode,
        b: site.t.params,
        c: scratch,
      }),
    ],
    // ReLU backward given the ReLU output: scratch = scratch · [hidden > 0], in place.
    [
      await prepareElementwise(gpu, arena, { op: "reluGrad", rows: 1, cols: rows * Df }, {
        x: hidden,
        y: scratch,
        out: scratch,
      }),
    ],
    [site.dropBToHidden!.dispatch],
    await dW(off(HEAD_KEYS.w2), scratch, hidden, Df),
    await prepareColSum(gpu, arena, { rows, cols: Df, yOffset: off(HEAD_KEYS.b2), accumulate }, {
      x: scratch,
      y: t.grads,
    }),
  ];
  const all = steps.flat();
  return {
    dispatchCount: all.length,
    record(rec: StepRecorder) {
      rec.dispatch(...all);
    },
  };
}

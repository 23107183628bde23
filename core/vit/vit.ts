/**
 * Frozen DINO / DINOv2 ViT forward pass on WebGPU (dino-backbone.md §1.2, §2.1, §6.3; hp-method.md §2.1).
 *
 * Shapes (per chunk of Bc images): N = 1 + R + P tokens (CLS, R registers, P patches), C channels, H heads
 * of width d = C/H, M = mlp width.
 *   x [Bc·N, C] residual stream · y [Bc·N, C] LayerNorm output · qkv [Bc·N, 3C]
 *   o [Bc·N, C] attention output · hidden [Bc·N, M] · patches [Bc·P, 3p²]
 * Per block, 7 dispatches whatever the batch: LN1 → qkv GEMM (+bias) → fused attention over all images ×
 * heads (online softmax, no [Bc, H, N, N] scores; attention.ts) → proj GEMM accumulated into x (+bias) →
 * LN2 → fc1 GEMM (+bias, exact GELU) → fc2 GEMM accumulated into x. Then one final LayerNorm writes the
 * patch rows of every image (CLS and registers skipped) to `features` [B, P, C], rows b·P + r·gw + c.
 * HP's last-block outputs, from the head-mean pre-softmax patch logits (scale/H)·Q_P·K_Pᵀ
 * (dino-backbone.md §2.1 identity):
 * - `lhp`: the LHP coefficients [B·P, 9] (hp-method.md §5.5), one more dispatch, the logits never stored;
 * - `attn`: the logits themselves [B, P, P] (one GEMM per chunk; for `features` and tests).
 *
 * DINOv2: register tokens (no position embedding) sit right after CLS and take part in every attention;
 * CLS and register rows/columns are left out of `features` and `attn`. LayerScale x + γ⊙(W·y + b) is folded
 * into the weights at upload (rows of W and b scaled by γ, in float64 then rounded), so the block runs the
 * same kernels as DINO v1.
 *
 * The batch is processed in chunks so that no binding exceeds the adapter's limit (128 MiB on lavapipe):
 * the scratch buffers hold one chunk and are reused; everything is recorded into the caller's encoder.
 * Position embeddings for the input size are computed once at creation (pos_embed.ts, float64 on the CPU).
 *
 * Precision (precision.ts): under "f16", y, qkv, o and hidden are f16 tensors and the block GEMM weights
 * f16 (gpu_weights.ts); every kernel converts on load and sums in f32; x, features, attn, lhp stay f32.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { BufferArena, type DType, type GpuTensor } from "../gpu/buffers.ts";
import { VitGpuWeights } from "./gpu_weights.ts";
import type { VitPrecision } from "./precision.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { prepareGemm } from "../kernels/gemm.ts";
import { prepareLayerNorm } from "../kernels/layernorm.ts";
import { prepareAttention, prepareLhpFromQk } from "./attention.ts";
import { BLOCK_PARAMS, type VitConfig, type VitWeights } from "./weights.ts";
import { positionTable } from "./pos_embed.ts";
import { type PatchifyPlan, prepareClsRows, preparePatchify } from "./embed.ts";
import { LimitError } from "../errors.ts";

export type { VitConfig, VitWeights } from "./weights.ts";
export { loadVitWeights } from "./weights.ts";
export { layerScaled, VitGpuWeights } from "./gpu_weights.ts";
export type { VitPrecision } from "./precision.ts";

/** Options for {@link VitBackbone.create}. */
export interface VitOptions {
  batch: number;
  height: number;
  width: number;
  /** Also produce the last block's head-mean pre-softmax patch logits [B, P, P]. */
  attn?: boolean;
  /** Also produce HP's LHP coefficients [B·P, 9] from those logits (hp-method.md §5.5), with this σ. */
  lhp?: { sigma: number };
  /** Also write the CLS token after the final LayerNorm to `cls` [B, C] (used by golden tests). */
  cls?: boolean;
  /** Images per internal chunk (default: the most that keeps every binding within the adapter limit). */
  chunk?: number;
  /**
   * Arithmetic precision (precision.ts; default f32). With {@link VitGpuWeights} it must be theirs (or
   * left out: the weights' precision is used).
   */
  precision?: VitPrecision;
  /**
   * Reuse this backbone's scratch (same weights config, input size and chunk) instead of allocating its
   * own: for forwards recorded one after the other (the trainer's clean and augmented views). Outputs stay
   * separate; the scratch stays owned (and freed) by `shareScratch`.
   */
  shareScratch?: VitBackbone;
}

/** The per-chunk activations one forward overwrites (shareable between sequential forwards). */
interface VitScratch {
  key: string;
  x: GpuTensor;
  y: GpuTensor;
  qkv: GpuTensor;
  o: GpuTensor;
  hidden: GpuTensor;
  patchBuf: GpuTensor;
}

/** `d` labelled with its role in the forward (bench vit's per-kernel GPU times are grouped by it). */
async function named(label: string, d: Promise<Dispatch>): Promise<Dispatch> {
  return { ...(await d), label };
}

interface ChunkPlan {
  first: number;
  count: number;
  patchify: PatchifyPlan;
  /** Everything after the patchify, in order. */
  rest: Dispatch[];
}

/**
 * Largest chunk (images) for which each per-chunk buffer fits `limit` bytes; at least 1.
 * @throws RangeError when even one image does not fit.
 */
export function chunkSize(c: VitConfig, gh: number, gw: number, batch: number, limit: number): number {
  const P = gh * gw, N = P + 1 + (c.registers ?? 0);
  const perImage = Math.max(N * c.mlpDim, N * 3 * c.dim, P * 3 * c.patch * c.patch) * 4;
  if (perImage > limit) {
    throw new LimitError(
      `ViT: one ${gh * c.patch}×${gw * c.patch} image needs a ${perImage}-byte buffer, over the adapter's ` +
        `${limit}-byte binding limit`,
    );
  }
  return Math.max(1, Math.min(batch, Math.floor(limit / perImage)));
}

/** A frozen DINO ViT for fixed batch and input size. Owns its buffers; call `destroy()` when done. */
export class VitBackbone {
  readonly gridH: number;
  readonly gridW: number;
  /** Patch tokens P = gridH·gridW. */
  readonly patches: number;
  /** Images per internal chunk. */
  readonly chunk: number;
  #patchify = new WeakMap<GpuTensor, Dispatch[]>();
  #ownWeights: VitGpuWeights | null = null;
  #scratch: VitScratch | null = null;

  private constructor(
    readonly config: VitConfig,
    readonly batch: number,
    readonly height: number,
    readonly width: number,
    /** [B, P, C] patch tokens after the final LayerNorm, CLS dropped. */
    readonly features: GpuTensor,
    /** [B, P, P] head-mean pre-softmax logits of the last block (only with `attn: true`). */
    readonly attn: GpuTensor | null,
    /** [B·P, 9] LHP coefficients (only with `lhp`). */
    readonly lhp: GpuTensor | null,
    /** [B, C] CLS token after the final LayerNorm (only with `cls: true`). */
    readonly cls: GpuTensor | null,
    readonly gpu: Gpu,
    readonly arena: BufferArena,
    /** What the blocks run in (precision.ts). */
    readonly precision: VitPrecision,
    private readonly chunks: ChunkPlan[],
    private readonly patchBuf: GpuTensor,
    chunk: number,
  ) {
    this.gridH = height / config.patch;
    this.gridW = width / config.patch;
    this.patches = this.gridH * this.gridW;
    this.chunk = chunk;
  }

  /**
   * Uploads the weights and the position table, allocates outputs and scratch, and prepares every dispatch.
   * @param arena accepted for API symmetry; the backbone allocates in its own arena, freed by `destroy()`.
   * @param weights CPU weights (uploaded here, freed by `destroy()`), or {@link VitGpuWeights} shared with
   *   other backbones (left alone by `destroy()`).
   * @throws TypeError for sizes that are not multiples of the patch size; RangeError when an output
   *   tensor exceeds the adapter's binding limit (use a smaller batch).
   */
  static async create(
    gpu: Gpu,
    _arena: BufferArena,
    weights: VitWeights | VitGpuWeights,
    opts: VitOptions,
  ): Promise<VitBackbone> {
    const c = weights.config;
    const { batch: B, height: Hh, width: Ww } = opts;
    if (!Number.isInteger(B) || B < 1) throw new TypeError(`ViT: batch must be a positive integer, got ${B}`);
    if (Hh % c.patch || Ww % c.patch || Hh < c.patch || Ww < c.patch) {
      throw new TypeError(`ViT: input ${Hh}×${Ww} is not a positive multiple of the patch size ${c.patch}`);
    }
    if (c.dim % c.heads) throw new TypeError(`ViT: width ${c.dim} is not divisible by ${c.heads} heads`);
    if (opts.lhp && Hh !== Ww) {
      throw new TypeError(`ViT: LHP coefficients need a square input (the 3×3 window grid), got ${Hh}×${Ww}`);
    }
    const R = c.registers ?? 0, T = 1 + R; // prefix tokens: CLS, then the registers
    const gh = Hh / c.patch, gw = Ww / c.patch, P = gh * gw, N = T + P, C = c.dim, H = c.heads;
    const hd = C / H, K = 3 * c.patch * c.patch, Mlp = c.mlpDim;
    // Scratch per chunk stays under the binding limit and under 1 GiB per buffer (the MLP hidden layer is
    // the largest: S/8 at 224 gets 27 images per chunk at 128 MiB, 222 at 1 GiB).
    const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize, 2 ** 30);
    const Bc = Math.min(opts.chunk ?? Infinity, chunkSize(c, gh, gw, B, limit));
    if (weights instanceof VitGpuWeights && opts.precision && opts.precision !== weights.precision) {
      throw new TypeError(
        `ViT: precision ${opts.precision} asked of weights uploaded as ${weights.precision}`,
      );
    }
    const arena = new BufferArena(gpu, "vit");
    const ownWeights = weights instanceof VitGpuWeights
      ? null
      : VitGpuWeights.upload(gpu, weights, opts.precision ?? "f32");
    const gpuW = weights instanceof VitGpuWeights ? weights : ownWeights!;
    // f16: the tensors the GEMMs and the attention read and write (x, the residual stream, stays f32).
    const act: DType = gpuW.precision;
    try {
      const up = (k: string) => gpuW.get(k);
      // Position table for this size; CLS gets cls_token + pos[0] (added in float64, then rounded); the
      // register tokens follow it with no position embedding.
      const pos = positionTable(gpuW.hostTensor("pos_embed"), c.posGrid, C, gh, gw, c.posResize);
      const cls = gpuW.hostTensor("cls_token");
      const prefix = new Float32Array(T * C);
      for (let i = 0; i < C; i++) prefix[i] = cls[i] + pos[i];
      if (R > 0) prefix.set(gpuW.hostTensor("register_tokens"), C);
      const clsPos = arena.upload(prefix, [T, C], "f32", "cls+pos+registers");
      const posPatch = arena.upload(Float32Array.from(pos.subarray(C)), [P, C], "f32", "pos-patch");
      const peW = up("patch_embed.proj.weight"), peB = up("patch_embed.proj.bias");
      const blocks = Array.from({ length: c.depth }, (_, i) => {
        const o: Record<string, GpuTensor> = {};
        for (const k of BLOCK_PARAMS) o[k] = up(`blocks.${i}.${k}`); // γ are folded in (layerScaled)
        return o;
      });
      const normW = up("norm.weight"), normB = up("norm.bias");
      const what = (label: string, shape: number[]) => {
        try {
          return arena.tensor(shape, "f32", label);
        } catch (err) {
          if (err instanceof RangeError) {
            throw new LimitError(`ViT: ${err.message}; use a smaller batch (now ${B})`);
          }
          throw err;
        }
      };
      const features = what("vit-features", [B, P, C]);
      const attn = opts.attn ? what("vit-attn", [B, P, P]) : null;
      const lhp = opts.lhp ? what("vit-lhp", [B * P, 9]) : null;
      const clsOut = opts.cls ? what("vit-cls", [B, C]) : null;
      // Same sizes and the same storage type (f16 stores y, qkv, o, hidden as f16) or no sharing.
      const key = JSON.stringify([Bc, N, C, Mlp, P, K, act]);
      const shared = opts.shareScratch ? opts.shareScratch.#scratch : null;
      if (opts.shareScratch && shared?.key !== key) {
        throw new TypeError(`ViT: shareScratch needs the same config, input size, chunk and precision`);
      }
      const scratch: VitScratch = shared ?? {
        key,
        x: arena.tensor([Bc * N, C], "f32", "vit-x"),
        y: arena.tensor([Bc * N, C], act, "vit-y"),
        qkv: arena.tensor([Bc * N, 3 * C], act, "vit-qkv"),
        o: arena.tensor([Bc * N, C], act, "vit-o"),
        hidden: arena.tensor([Bc * N, Mlp], act, "vit-hidden"),
        patchBuf: arena.tensor([Bc * P, K], "f32", "vit-patches"),
      };
      const { x, y, qkv, o, hidden, patchBuf } = scratch;
      const scale = 1 / Math.sqrt(hd);

      const chunks: ChunkPlan[] = [];
      for (let first = 0; first < B; first += Bc) {
        const n = Math.min(Bc, B - first);
        const rest: Dispatch[] = [];
        const patchify = await preparePatchify(gpu, arena, {
          images: n,
          first,
          height: Hh,
          width: Ww,
          patch: c.patch,
        });
        // Patch embedding: rows b·N + T + t of x = patches·W_peᵀ + b_pe + pos[1 + t].
        rest.push(
          await named(
            "patch-embed",
            prepareGemm(gpu, arena, {
              M: P,
              N: C,
              K,
              batch: n,
              transB: true,
              aBatchStride: P * K,
              bBatchStride: 0,
              cOffset: T * C,
              cBatchStride: N * C,
              residual: { ld: C, offset: 0, batchStride: 0 },
            }, { a: patchBuf, b: peW, c: x, bias: peB, residual: posPatch }),
          ),
          await named(
            "cls-rows",
            prepareClsRows(gpu, arena, { images: n, tokens: N, dim: C, rows: T }, { clsPos, x }),
          ),
        );
        const rows = n * N;
        for (let bi = 0; bi < c.depth; bi++) {
          const bw = blocks[bi];
          rest.push(
            await named(
              "ln1",
              prepareLayerNorm(gpu, arena, { rows, cols: C, eps: c.eps }, {
                x,
                y,
                weight: bw["norm1.weight"],
                bias: bw["norm1.bias"],
              }),
            ),
            await named(
              "qkv",
              prepareGemm(gpu, arena, { M: rows, N: 3 * C, K: C, transB: true }, {
                a: y,
                b: bw["attn.qkv.weight"],
                c: qkv,
                bias: bw["attn.qkv.bias"],
              }),
            ),
          );
          if (attn && bi === c.depth - 1) {
            // HP logits: mean over heads of q_h·k_hᵀ·scale = (scale/H)·Q·Kᵀ over patch rows (CLS and
            // registers skipped).
            rest.push(
              await named(
                "attn-logits",
                prepareGemm(gpu, arena, {
                  M: P,
                  N: P,
                  K: C,
                  batch: n,
                  transB: true,
                  lda: 3 * C,
                  ldb: 3 * C,
                  aOffset: T * 3 * C,
                  bOffset: T * 3 * C + C,
                  aBatchStride: N * 3 * C,
                  bBatchStride: N * 3 * C,
                  cOffset: first * P * P,
                  cBatchStride: P * P,
                  alpha: scale / H,
                }, { a: qkv, b: qkv, c: attn }),
              ),
            );
          }
          if (lhp && bi === c.depth - 1) {
            rest.push(
              await named(
                "lhp",
                prepareLhpFromQk(gpu, arena, {
                  images: n,
                  prefix: T,
                  side: gh,
                  dim: C,
                  heads: H,
                  scale,
                  sigma: opts.lhp!.sigma,
                  firstImage: first,
                }, { qkv, coef: lhp }),
              ),
            );
          }
          rest.push(
            await named(
              "attention",
              prepareAttention(gpu, arena, { images: n, tokens: N, dim: C, heads: H, scale }, { qkv, o }),
            ),
          );
          rest.push(
            await named(
              "proj",
              prepareGemm(gpu, arena, { M: rows, N: C, K: C, transB: true, accumulate: true }, {
                a: o,
                b: bw["attn.proj.weight"],
                c: x,
                bias: bw["attn.proj.bias"],
              }),
            ),
            await named(
              "ln2",
              prepareLayerNorm(gpu, arena, { rows, cols: C, eps: c.eps }, {
                x,
                y,
                weight: bw["norm2.weight"],
                bias: bw["norm2.bias"],
              }),
            ),
            await named(
              "fc1",
              prepareGemm(gpu, arena, { M: rows, N: Mlp, K: C, transB: true, act: "gelu" }, {
                a: y,
                b: bw["mlp.fc1.weight"],
                c: hidden,
                bias: bw["mlp.fc1.bias"],
              }),
            ),
            await named(
              "fc2",
              prepareGemm(gpu, arena, { M: rows, N: C, K: Mlp, transB: true, accumulate: true }, {
                a: hidden,
                b: bw["mlp.fc2.weight"],
                c: x,
                bias: bw["mlp.fc2.bias"],
              }),
            ),
          );
        }
        // Final LayerNorm of the patch rows of every image, straight into features: one dispatch reading
        // x in groups of P rows (CLS and register rows sit between the groups).
        rest.push(
          await named(
            "final-ln",
            prepareLayerNorm(gpu, arena, {
              rows: n * P,
              cols: C,
              eps: c.eps,
              xOffset: T * C,
              xGroups: { rows: P, stride: N * C },
              yOffset: first * P * C,
            }, { x, y: features, weight: normW, bias: normB }),
          ),
        );
        if (clsOut) {
          rest.push(
            await named(
              "cls-ln",
              prepareLayerNorm(gpu, arena, {
                rows: n,
                cols: C,
                eps: c.eps,
                ldx: N * C,
                yOffset: first * C,
              }, {
                x,
                y: clsOut,
                weight: normW,
                bias: normB,
              }),
            ),
          );
        }
        chunks.push({ first, count: n, patchify, rest });
      }
      const vit = new VitBackbone(
        c,
        B,
        Hh,
        Ww,
        features,
        attn,
        lhp,
        clsOut,
        gpu,
        arena,
        gpuW.precision,
        chunks,
        patchBuf,
        Bc,
      );
      vit.#ownWeights = ownWeights;
      vit.#scratch = scratch;
      return vit;
    } catch (err) {
      arena.destroyAll();
      ownWeights?.destroy();
      throw err;
    }
  }

  /** Number of GPU dispatches one {@link encode} records. */
  get dispatchCount(): number {
    return this.chunks.reduce((a, ch) => a + 1 + ch.rest.length, 0);
  }

  /**
   * Records the forward pass of `images` [B, 3, H, W] (float32, already normalised) into `rec`.
   * Results land in {@link features} (and {@link attn}) when the recorder's submit executes.
   */
  encode(rec: StepRecorder, images: GpuTensor): void {
    const want = [this.batch, 3, this.height, this.width];
    if (images.shape.length !== 4 || images.shape.some((d, i) => d !== want[i]) || images.dtype !== "f32") {
      throw new TypeError(
        `ViT.encode: images "${images.label}" is ${images.dtype}[${images.shape.join(", ")}], expected f32[${
          want.join(", ")
        }]`,
      );
    }
    // Bind groups per input tensor, made once (a trainer alternates a clean and an augmented batch).
    let patchify = this.#patchify.get(images);
    if (!patchify) {
      patchify = this.chunks.map((ch) => ch.patchify.bind(images, this.patchBuf));
      this.#patchify.set(images, patchify);
    }
    this.chunks.forEach((ch, i) => rec.dispatch(patchify[i], ...ch.rest));
  }

  /** Frees every buffer the backbone allocated (scratch, outputs, and weights it uploaded itself). */
  destroy(): void {
    this.arena.destroyAll();
    this.#ownWeights?.destroy();
    this.#ownWeights = null;
    this.#scratch = null;
    this.#patchify = new WeakMap();
  }
}

/**
 * The ViT's attention kernels (dino-backbone.md §1.2 step 3, §6.3 items 2–3):
 * - {@link prepareAttention}: fused multi-head self-attention of one block over all images × heads with an
 *   online softmax (shaders/vit/attention.wgsl), one dispatch per block, no [B, H, N, N] scores;
 * - {@link prepareLhpFromQk}: HP's LHP coefficients [B·P, 9] from the last block's q and k
 *   (shaders/vit/attention_lhp.wgsl), one dispatch, no [B, P, P] logits.
 * CPU references in float64: {@link attentionRef}; for the LHP kernel {@link headMeanLogitsRef}, whose
 * rows core/model/loss_ref.ts `lhpWeightsRef` turns into coefficients (core/vit sits below core/model, so the
 * composition is done by the test).
 * Both read qkv (and the attention writes o) as f32 or f16 storage, with f32 arithmetic throughout.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "../kernels/common.ts";
import { type StorageType, withStorageTypes } from "../gpu/wgsl.ts";
import { LimitError } from "../errors.ts";
import attentionSrc from "../../shaders/vit/attention.wgsl" with { type: "text" };
import lhpQkSrc from "../../shaders/vit/attention_lhp.wgsl" with { type: "text" };

/** Geometry of one attention: `images` images of N tokens, C channels in `heads` heads. */
export interface AttentionShape {
  images: number;
  tokens: number;
  dim: number;
  heads: number;
  /** Logit scale (default head_dim^-½). */
  scale?: number;
}

/** Query rows per workgroup of attention.wgsl (its QT). */
export const ATTENTION_ROWS = 64;

/** CPU reference: o [images·N, C] from qkv [images·N, 3C] (float64, two-pass softmax). */
export function attentionRef(s: AttentionShape, qkv: ArrayLike<number>): Float64Array {
  const { images: B, tokens: N, dim: C, heads: H } = s;
  const hd = C / H, scale = s.scale ?? 1 / Math.sqrt(hd), C3 = 3 * C;
  const o = new Float64Array(B * N * C);
  const row = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const qi = (b * N + i) * C3 + h * hd;
        let mx = -Infinity;
        for (let j = 0; j < N; j++) {
          const kj = (b * N + j) * C3 + C + h * hd;
          let t = 0;
          for (let d = 0; d < hd; d++) t += qkv[qi + d] * qkv[kj + d];
          row[j] = scale * t;
          mx = Math.max(mx, row[j]);
        }
        let sum = 0;
        for (let j = 0; j < N; j++) sum += row[j] = Math.exp(row[j] - mx);
        const oi = (b * N + i) * C + h * hd;
        for (let j = 0; j < N; j++) {
          const vj = (b * N + j) * C3 + 2 * C + h * hd, w = row[j] / sum;
          for (let d = 0; d < hd; d++) o[oi + d] += w * qkv[vj + d];
        }
      }
    }
  }
  return o;
}

/**
 * The fused attention: reads qkv [images·N, 3C], writes o [images·N, C] (every element). One dispatch
 * over (⌈N/64⌉, heads, images) workgroups. The head dim may be any positive integer (padded to vec4s).
 */
export async function prepareAttention(
  gpu: Gpu,
  arena: BufferArena,
  s: AttentionShape,
  t: { qkv: GpuTensor; o: GpuTensor },
): Promise<Dispatch> {
  const { images: B, tokens: N, dim: C, heads: H } = s;
  checkDims("attention", { images: B, tokens: N, dim: C, heads: H });
  if (C % H) throw new TypeError(`attention: dim ${C} is not divisible by ${H} heads`);
  checkDtype("attention", "qkv", t.qkv, "f32", "f16");
  if (t.o.dtype !== t.qkv.dtype) {
    throw new TypeError(`attention: o "${t.o.label}" is ${t.o.dtype}, expected ${t.qkv.dtype} like qkv`);
  }
  checkExtent("attention", "qkv", t.qkv, B * N * 3 * C);
  checkExtent("attention", "o", t.o, B * N * C);
  const hd = C / H, hd4 = Math.ceil(hd / 4);
  // K and V tiles: 2·KT·HD4 vec4s; KT ≤ 32 keys, within the 16 KiB every adapter offers.
  const kt = Math.max(1, Math.min(32, Math.floor(16384 / (32 * hd4))));
  const typed = withStorageTypes("attention", attentionSrc, { ST: t.qkv.dtype as StorageType }, gpu.hasF16);
  const source = unrollD4(setConst(setConst(typed.source, "HD4", hd4), "KT", kt), hd4);
  const kernel = await getKernel(gpu, {
    file: "vit/attention.wgsl",
    source,
    variant: `HD4=${hd4} KT=${kt}${typed.variant ? ` ${typed.variant}` : ""}`,
    bindings: ["read", "rw", "uniform"],
  });
  const u = arena.uniform(
    packUniform([[N, "u32"], [C, "u32"], [hd, "u32"], [s.scale ?? 1 / Math.sqrt(hd), "f32"]]),
    "attention-params",
  );
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (B > maxDim || H > maxDim) throw new RangeError(`attention: ${B} images × ${H} heads exceed the grid`);
  return {
    kernel,
    bindGroup: bindGroup(gpu, kernel, [t.qkv, t.o, u]),
    workgroups: [Math.ceil(N / ATTENTION_ROWS), H, B],
  };
}

/**
 * Writes out every one-line `for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { … }` of the shader as HD4
 * copies with d4 a literal, so the per-thread q and accumulator arrays are only ever indexed by constants
 * and stay in registers whatever the driver's unroller decides (webgpu-notes.md §8).
 */
function unrollD4(src: string, hd4: number): string {
  const loop = /for \(var d4: u32 = 0u; d4 < HD4; d4 = d4 \+ 1u\) \{ (.*) \}$/;
  return src.split("\n").map((line) => {
    const m = loop.exec(line);
    if (!m) return line;
    const body = Array.from({ length: hd4 }, (_, d) => m[1].replaceAll(/\bd4\b/g, `${d}u`)).join(" ");
    return line.slice(0, m.index) + body;
  }).join("\n");
}

/** Replaces the value of `const NAME: u32 = …u;` in a shader (the line must exist). */
function setConst(src: string, name: string, value: number): string {
  const re = new RegExp(`^const ${name}: u32 = \\d+u;$`, "m");
  if (!re.test(src)) throw new Error(`shader lost its "const ${name}" line`);
  return src.replace(re, `const ${name}: u32 = ${value}u;`);
}

/** Geometry of {@link prepareLhpFromQk}: `images` images of T prefix tokens then an S×S patch grid. */
export interface LhpQkShape {
  images: number;
  /** Prefix tokens (CLS and registers) before the patch rows of each image. */
  prefix: number;
  /** Patch grid side; P = S² patches (≤ 2048). */
  side: number;
  dim: number;
  heads: number;
  /** Logit scale before the head mean (default head_dim^-½). */
  scale?: number;
  sigma: number;
  /** Write coefficient rows from firstImage·P on (default 0). */
  firstImage?: number;
}

/** CPU reference: the head-mean patch logits (scale/H)·q_P·k_Pᵀ [images, P, P] in float64. */
export function headMeanLogitsRef(s: Omit<LhpQkShape, "sigma">, qkv: ArrayLike<number>): Float64Array {
  const { images: B, prefix: T, side: S, dim: C, heads: H } = s;
  const P = S * S, N = T + P, C3 = 3 * C, alpha = (s.scale ?? 1 / Math.sqrt(C / H)) / H;
  const attn = new Float64Array(B * P * P);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < P; i++) {
      const qi = (b * N + T + i) * C3;
      for (let j = 0; j < P; j++) {
        const kj = (b * N + T + j) * C3 + C;
        let t = 0;
        for (let c = 0; c < C; c++) t += qkv[qi + c] * qkv[kj + c];
        attn[(b * P + i) * P + j] = alpha * t;
      }
    }
  }
  return attn;
}

/** The LHP coefficients of every patch of every image: coef rows firstImage·P … [, 9]. One dispatch. */
export async function prepareLhpFromQk(
  gpu: Gpu,
  arena: BufferArena,
  s: LhpQkShape,
  t: { qkv: GpuTensor; coef: GpuTensor },
): Promise<Dispatch> {
  const { images: B, prefix: T, side: S, dim: C, heads: H } = s;
  checkDims("attention_lhp", { images: B, side: S, dim: C, heads: H });
  const P = S * S, N = T + P, first = s.firstImage ?? 0;
  let pp = 1;
  while (pp < P) pp *= 2;
  if (P > 2048) {
    throw new LimitError(`attention_lhp: P = ${P} patches exceed 2048 (sorted in workgroup memory)`);
  }
  const wgBytes = (2048 + pp + 256) * 4;
  if (wgBytes > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new LimitError(
      `attention_lhp: needs ${wgBytes} bytes of workgroup memory, the adapter offers ` +
        `${gpu.limits.maxComputeWorkgroupStorageSize}`,
    );
  }
  checkDtype("attention_lhp", "qkv", t.qkv, "f32", "f16");
  checkDtype("attention_lhp", "coef", t.coef, "f32");
  checkExtent("attention_lhp", "qkv", t.qkv, B * N * 3 * C);
  checkExtent("attention_lhp", "coef", t.coef, (first + B) * P * 9);
  const typedLhp = withStorageTypes(
    "attention_lhp",
    lhpQkSrc,
    { ST: t.qkv.dtype as StorageType },
    gpu.hasF16,
  );
  const kernel = await getKernel(gpu, {
    file: "vit/attention_lhp.wgsl",
    source: setConst(typedLhp.source, "PPMAX", pp),
    variant: `PPMAX=${pp}${typedLhp.variant ? ` ${typedLhp.variant}` : ""}`,
    bindings: ["read", "rw", "uniform"],
  });
  const alpha = (s.scale ?? 1 / Math.sqrt(C / H)) / H;
  const u = arena.uniform(
    packUniform([
      [B, "u32"],
      [N, "u32"],
      [T, "u32"],
      [C, "u32"],
      [S, "u32"],
      [P, "u32"],
      [pp, "u32"],
      [first * P, "u32"],
      [alpha, "f32"],
      [s.sigma, "f32"],
      [0, "u32"],
      [0, "u32"],
    ]),
    "lhp-qk-params",
  );
  return {
    kernel,
    bindGroup: bindGroup(gpu, kernel, [t.qkv, t.coef, u]),
    workgroups: grid1d(B * P, gpu.limits.maxComputeWorkgroupsPerDimension),
  };
}

/**
 * The frozen ViT's weights on the GPU ({@link VitGpuWeights}), uploaded once in the backbone's precision
 * and shared between backbones (HP's 224 training pass and its 320 evaluation pass), and the LayerScale
 * fold applied on upload.
 *
 * Precision "f16" (core/vit/precision.ts) stores the four GEMM weight matrices of every block (qkv, proj,
 * fc1, fc2: 98% of the parameters) as f16, rounded to nearest from the f32 values after the LayerScale
 * fold; biases, LayerNorm parameters and the patch embedding stay f32.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { BufferArena, type GpuTensor } from "../gpu/buffers.ts";
import type { VitWeights } from "./weights.ts";
import type { VitPrecision } from "./precision.ts";

/** Block tensors stored as f16 under precision "f16". */
export const F16_WEIGHTS = /^blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.weight$/;

/**
 * ViT weights uploaded once, to share between backbones (e.g. HP's 224 training pass with attention and
 * its 320 evaluation pass): ViT-B is 343 MB. Keeps the small CPU tensors the position table needs.
 */
export class VitGpuWeights {
  readonly #arena: BufferArena;
  readonly #tensors = new Map<string, GpuTensor>();
  private constructor(
    readonly gpu: Gpu,
    readonly config: VitWeights["config"],
    readonly host: VitWeights,
    /** Storage of the block GEMM weights ({@link F16_WEIGHTS}); backbones built on these run in it. */
    readonly precision: VitPrecision,
  ) {
    this.#arena = new BufferArena(gpu, "vit-weights");
  }

  /**
   * Uploads every tensor except cls_token, pos_embed and register_tokens (folded into per-size tables) and
   * the LayerScale γ (folded into attn.proj and mlp.fc2: γ⊙(W·y + b) = (γ⊙W)·y + γ⊙b).
   * @throws TypeError when precision "f16" is asked of a device without shader-f16.
   */
  static upload(gpu: Gpu, weights: VitWeights, precision: VitPrecision = "f32"): VitGpuWeights {
    if (precision === "f16" && !gpu.hasF16) {
      throw new TypeError(`ViT: f16 weights need the shader-f16 feature, which "${gpu.description}" lacks`);
    }
    const g = new VitGpuWeights(gpu, weights.config, weights, precision);
    const HOST_ONLY = new Set(["cls_token", "pos_embed", "register_tokens"]);
    try {
      for (const [k, t] of weights.tensors) {
        if (HOST_ONLY.has(k) || /\.ls[12]\.gamma$/.test(k)) continue;
        const v = layerScaled(weights, k, t);
        const half = precision === "f16" && F16_WEIGHTS.test(k);
        g.#tensors.set(
          k,
          half
            ? g.#arena.upload(new Uint16Array(Float16Array.from(v).buffer), [v.length], "f16", k)
            : g.#arena.upload(v, [v.length], "f32", k),
        );
      }
    } catch (err) {
      g.destroy();
      throw err;
    }
    return g;
  }

  /** The uploaded tensor `key` (DINO name). @throws TypeError when absent. */
  get(key: string): GpuTensor {
    const t = this.#tensors.get(key);
    if (!t) throw new TypeError(`ViT: weights lack "${key}"`);
    return t;
  }

  /** CPU copy of a tensor (cls_token, pos_embed). */
  hostTensor(key: string): Float32Array {
    const t = this.host.tensors.get(key);
    if (!t) throw new TypeError(`ViT: weights lack "${key}"`);
    return t;
  }

  /** Frees the GPU copies; backbones created from these weights must not be used afterwards. */
  destroy(): void {
    this.#arena.destroyAll();
  }
}

/**
 * `t` (tensor `key`) with its block's LayerScale γ folded in when `key` is attn.proj or mlp.fc2 of a
 * LayerScale model: row o of the weight and element o of the bias times γ[o]. Other tensors as they are.
 */
export function layerScaled(weights: VitWeights, key: string, t: Float32Array): Float32Array {
  const m = /^blocks\.(\d+)\.(attn\.proj|mlp\.fc2)\.(weight|bias)$/.exec(key);
  if (!weights.config.layerScale || !m) return t;
  const gamma = weights.tensors.get(`blocks.${m[1]}.${m[2] === "attn.proj" ? "ls1" : "ls2"}.gamma`);
  if (!gamma) throw new TypeError(`ViT: LayerScale weights lack the γ of "${key}"`);
  const cols = t.length / gamma.length, out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = gamma[Math.floor(i / cols)] * t[i];
  return out;
}

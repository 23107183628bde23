/**
 * DINOv2 additions to the ViT weight loader (README "DINOv2 backbones"), kept apart from core/vit/weights.ts's DINO v1
 * rules so that each stays readable:
 * - the Hugging Face `facebook/dinov2-*` names that differ from HF ViT's (`norm1`/`norm2`, `mlp.fc1/fc2`,
 *   `layer_scale{1,2}.lambda1`, `embeddings.register_tokens`, `embeddings.mask_token`);
 * - detection of LayerScale (`blocks.i.ls{1,2}.gamma`) and register tokens (`register_tokens` [1, R, C]),
 *   and the position-embedding resize rule that goes with them (registers → antialiased exact-size bicubic,
 *   otherwise the +0.1 scale rule; core/vit/pos_embed.ts);
 * - what is refused with one line: the giant model's SwiGLU MLP (`mlp.w12`/`mlp.w3`, HF `mlp.weights_in`),
 *   and DINOv2's `*_linear_head.pth` classifier files (not backbones);
 * - `mask_token` (in every DINOv2 file, unused at inference) is accepted and ignored.
 * Official files are plain state dicts (`cls_token`, `pos_embed` [1, 1 + 37², C], `register_tokens`,
 * `mask_token`, `patch_embed.proj.*`, `blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1,
 * mlp.fc2, ls2.gamma}`, `norm.*`); training checkpoints with block chunks (`blocks.<chunk>.<N>.…`) and
 * `dino_head.*`/`ibot_head.*` are read too.
 * @module
 */
import type { PosResize } from "./pos_embed.ts";

/** HF Dinov2Model block parameter names → DINO names (those HF ViT does not use). */
export const DINOV2_HF_BLOCK: Record<string, string> = {
  "norm1.weight": "norm1.weight",
  "norm1.bias": "norm1.bias",
  "norm2.weight": "norm2.weight",
  "norm2.bias": "norm2.bias",
  "mlp.fc1.weight": "mlp.fc1.weight",
  "mlp.fc1.bias": "mlp.fc1.bias",
  "mlp.fc2.weight": "mlp.fc2.weight",
  "mlp.fc2.bias": "mlp.fc2.bias",
  "layer_scale1.lambda1": "ls1.gamma",
  "layer_scale2.lambda1": "ls2.gamma",
};

/** HF Dinov2Model top-level names → DINO names (those HF ViT does not use). */
export const DINOV2_HF_TOP: Record<string, string> = {
  "embeddings.register_tokens": "register_tokens",
  "embeddings.mask_token": "mask_token",
};

/** Normalised keys that are read past and ignored (DINOv2's masked-image-modelling token). */
export const IGNORED_KEYS: ReadonlySet<string> = new Set(["mask_token"]);

/** Key prefixes of DINOv2 training heads, dropped like DINO's `head.*`. */
export const DINOV2_HEAD_PREFIXES = ["dino_head.", "ibot_head."] as const;

/** `blocks.<chunk>.<N>.rest` (DINOv2 block chunks) → `blocks.<N>.rest`; other keys unchanged. */
export function unchunkBlockKey(k: string): string {
  const m = /^blocks\.\d+\.(\d+)\.(.+)$/.exec(k);
  return m ? `blocks.${m[1]}.${m[2]}` : k;
}

/**
 * Why these (prefix-stripped, source-named) keys are not a backbone hpseg runs, or null. Checked before
 * variant detection so the message names the real problem instead of a missing key.
 */
export function refuseNonBackbone(
  keys: readonly string[],
  shape: (k: string) => number[],
  path: string,
): string | null {
  const swiglu = keys.find((k) => /(^|\.)mlp\.(w12|w3|weights_in|weights_out)\./.test(k));
  if (swiglu) {
    return `key "${swiglu}" [${shape(swiglu).join(", ")}] is a SwiGLU MLP (DINOv2 ViT-g/14), which hpseg ` +
      `does not implement; use a ViT-S/14, B/14 or L/14 file`;
  }
  const backbone = keys.some((k) =>
    k === "cls_token" || k === "embeddings.cls_token" || k.startsWith("blocks.") ||
    k.startsWith("encoder.layer.")
  );
  if (backbone) return null;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const plainLinear = keys.length > 0 && keys.every((k) => k === "weight" || k === "bias");
  if (plainLinear || /_head\.pth$/.test(name)) {
    const shown = keys.slice(0, 4).map((k) => `${k} [${shape(k).join(", ")}]`).join(", ");
    return `this is a classifier/decoder head (${shown || "no tensors"}), not a backbone: DINOv2's ` +
      `*_linear_head.pth files hold only the head; give the matching *_pretrain.pth backbone`;
  }
  return null;
}

/** The DINOv2 parts of a ViT config, detected from the normalised keys. */
export interface Dinov2Parts {
  registers: number;
  layerScale: boolean;
  posResize: PosResize;
}

/**
 * Detects LayerScale and register tokens (only `register_tokens` tells the released files apart) and
 * the position-embedding resize rule that the official hub model uses with them.
 */
export function detectDinov2Parts(has: (k: string) => boolean, shape: (k: string) => number[]): Dinov2Parts {
  const registers = has("register_tokens") ? (shape("register_tokens")[1] ?? 0) : 0;
  return {
    registers,
    layerScale: has("blocks.0.ls1.gamma") || has("blocks.0.ls2.gamma"),
    posResize: registers > 0 ? "antialias" : "offset",
  };
}

/** "S", "B", "L" for the standard DINOv2 widths with their depths, else null. */
export function dinov2Size(dim: number, depth: number): "S" | "B" | "L" | null {
  if (dim === 384 && depth === 12) return "S";
  if (dim === 768 && depth === 12) return "B";
  if (dim === 1024 && depth === 24) return "L";
  return null;
}

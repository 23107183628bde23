/**
 * A float64 CPU forward of the frozen ViT composed of the kernels' own references (patchifyRef, gemmRef,
 * layerNormRef, attentionRef, positionTable), for tests of the GPU backbone.
 *
 * `precision: "f16"` models f16 storage exactly where the GPU backbone stores f16 (core/vit/precision.ts):
 * the block GEMM weights (after the LayerScale fold) and the tensors y, qkv, o and hidden are rounded to
 * the nearest f16 when written; everything else — sums, LayerNorm statistics, softmax, the residual
 * stream — is float64. What remains between it and the GPU is f32 arithmetic and the rare f16 rounding
 * that f32 error tips the other way. With `precision: "f32"` (no rounding) it is checked against real
 * PyTorch (tests/vit/vit_f16_test.ts), so it is an independent reference in its own right.
 * @module
 */
import { gemmRef } from "../../core/kernels/gemm.ts";
import { layerNormRef } from "../../core/kernels/layernorm.ts";
import { attentionRef } from "../../core/vit/attention.ts";
import { patchifyRef } from "../../core/vit/embed.ts";
import { positionTable } from "../../core/vit/pos_embed.ts";
import { F16_WEIGHTS, layerScaled } from "../../core/vit/gpu_weights.ts";
import type { VitWeights } from "../../core/vit/weights.ts";
import type { VitPrecision } from "../../core/vit/precision.ts";

/** Features [B, P, C] after the final LayerNorm and the last block's head-mean patch logits [B, P, P]. */
export interface VitRefOutput {
  feat: Float64Array;
  attn: Float64Array;
}

/** The forward of `images` [B, 3, H, W] through `w` in float64, with f16 storage modelled under "f16". */
export function vitForwardRef(
  w: VitWeights,
  images: ArrayLike<number>,
  [B, H, W]: [number, number, number],
  precision: VitPrecision,
): VitRefOutput {
  const c = w.config, p = c.patch, C = c.dim, Mlp = c.mlpDim;
  const R = c.registers ?? 0, T = 1 + R, gh = H / p, gw = W / p, P = gh * gw, N = T + P, K = 3 * p * p;
  const store = precision === "f16" ? (a: Float64Array) => a.map(Math.f16round) : (a: Float64Array) => a;
  const weight = (k: string) => {
    const t = layerScaled(w, k, w.tensors.get(k)!);
    return precision === "f16" && F16_WEIGHTS.test(k) ? Float64Array.from(t, Math.f16round) : t;
  };
  // Tokens: CLS + pos[0], the registers, then patches·W_peᵀ + b_pe + pos[1 + t].
  const pos = positionTable(w.tensors.get("pos_embed")!, c.posGrid, C, gh, gw, c.posResize);
  const patches = patchifyRef({ images: B, height: H, width: W, patch: p }, images);
  const embedded = gemmRef(
    { M: B * P, N: C, K, transB: true },
    patches,
    w.tensors.get("patch_embed.proj.weight")!,
    new Float64Array(B * P * C),
    w.tensors.get("patch_embed.proj.bias")!,
  );
  let x: Float64Array = new Float64Array(B * N * C);
  const cls = w.tensors.get("cls_token")!, reg = w.tensors.get("register_tokens");
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < C; i++) x[b * N * C + i] = cls[i] + pos[i];
    for (let r = 0; r < R; r++) {
      for (let i = 0; i < C; i++) x[(b * N + 1 + r) * C + i] = reg![r * C + i];
    }
    for (let t = 0; t < P; t++) {
      for (let i = 0; i < C; i++) {
        x[(b * N + T + t) * C + i] = embedded[(b * P + t) * C + i] + pos[(1 + t) * C + i];
      }
    }
  }
  const rows = B * N;
  const linear = (a: Float64Array, key: string, n: number, k: number, out: Float64Array, act?: "gelu") =>
    gemmRef(
      { M: rows, N: n, K: k, transB: true, act: act ?? "none", accumulate: true },
      a,
      weight(`${key}.weight`),
      out,
      layerScaled(w, `${key}.bias`, w.tensors.get(`${key}.bias`)!),
    );
  const norm = (key: string) =>
    store(
      layerNormRef(
        { rows, cols: C, eps: c.eps },
        x,
        new Float64Array(rows * C),
        w.tensors.get(`${key}.weight`),
        w.tensors.get(`${key}.bias`),
      ).y,
    );
  let qkv: Float64Array = new Float64Array(0);
  for (let i = 0; i < c.depth; i++) {
    const blk = `blocks.${i}`;
    qkv = store(linear(norm(`${blk}.norm1`), `${blk}.attn.qkv`, 3 * C, C, new Float64Array(rows * 3 * C)));
    const o = store(attentionRef({ images: B, tokens: N, dim: C, heads: c.heads }, qkv));
    x = linear(o, `${blk}.attn.proj`, C, C, x);
    const hidden = store(
      linear(norm(`${blk}.norm2`), `${blk}.mlp.fc1`, Mlp, C, new Float64Array(rows * Mlp), "gelu"),
    );
    x = linear(hidden, `${blk}.mlp.fc2`, C, Mlp, x);
  }
  const feat = layerNormRef(
    { rows: B * P, cols: C, eps: c.eps, xOffset: T * C, xGroups: { rows: P, stride: N * C } },
    x,
    new Float64Array(B * P * C),
    w.tensors.get("norm.weight"),
    w.tensors.get("norm.bias"),
  ).y;
  // Head-mean logits (scale/H)·Q_P·K_Pᵀ of the last block: one GEMM over the q and k thirds per image.
  const attn = gemmRef(
    {
      M: P,
      N: P,
      K: C,
      batch: B,
      transB: true,
      lda: 3 * C,
      ldb: 3 * C,
      aOffset: T * 3 * C,
      bOffset: T * 3 * C + C,
      aBatchStride: N * 3 * C,
      bBatchStride: N * 3 * C,
      alpha: 1 / Math.sqrt(C / c.heads) / c.heads,
    },
    qkv,
    qkv,
    new Float64Array(B * P * P),
  );
  return { feat, attn };
}

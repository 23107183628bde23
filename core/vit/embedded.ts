/**
 * The embedded default backbone (README "The embedded default"): a small, fully deterministic DINO-layout ViT whose weights
 * are written by formula at start-up — no download, no file, identical on every machine.
 *
 * It is a genuine pre-norm ViT (dino-backbone.md §1.2: patch conv, CLS, position embedding, blocks of
 * LN → attention → LN → GELU MLP, final LN) run by core/vit like any DINO checkpoint; only the weights are
 * hand-designed rather than learned, so that the features carry texture (what the synthetic scenes'
 * classes are made of) the way a trained backbone's would:
 *
 *   patch_embed  a bank of 8×8 Gabor filters, PERIODS × ORIENTATIONS × {cos, sin} phases, applied to the
 *                luminance (the same filter on R, G and B) — plus three small colour (patch mean) channels.
 *                Channels [0, NF) hold the linear responses, [NF, NF+3) the colour, then the energies.
 *   block 0      attention switched off (proj = 0); the MLP computes local texture energy:
 *                fc1 = [+I; −I] on the linear responses, GELU, and since GELU(r) + GELU(−r) ≈ |r|,
 *                fc2 adds ENERGY_GAIN·(|r_cos| + |r_sin|) of each quadrature pair into an energy channel
 *                (a phase-invariant texture descriptor, like complex-cell responses).
 *   block 1      attention by texture similarity: q = k = the LN'd energy channels (duplicated into every
 *                head, so the head-mean logits HP reads are the same similarity), v = LN'd token, and
 *                proj = MIX·I adds the attention-weighted average (region-level context); MLP off.
 *   norm         identity affine.
 * cls_token and pos_embed are zero (positions carry no information in these scenes).
 *
 * Sizes: patch 8, C = 128, 2 heads (head width 64, as DINO), depth 2, MLP 512. At 64×64 input
 * (8×8 patches) one image costs ≈ 11 MFLOP.
 * @module
 */
import type { VitConfig, VitWeights } from "./weights.ts";

/** Gabor periods in pixels (the synthetic textures have periods 2–6 px). */
export const EMBEDDED_PERIODS = [8, 5.33, 4, 2.67, 2] as const;
/** Filter orientations (evenly spaced over 180°). */
export const EMBEDDED_ORIENTATIONS = 6;
/** Gaussian envelope σ of the filters, in pixels. */
const SIGMA = 3;
/** Gain of the linear responses (per unit normalised luminance contrast). */
const FILTER_GAIN = 4 / 0.226;
/** Gain of the colour (patch-mean) channels: small, so colour does not dominate. */
const COLOUR_GAIN = 0.3 / 0.226;
/** Gain of the energy channels written by block 0's MLP. */
const ENERGY_GAIN = 2;
/** Head-mean attention logit scale of block 1 (logit = ATTN_SCALE·⟨e_i, e_j⟩ over LN'd energies). */
const ATTN_SCALE = 1;
/** Weight of the attention average added back to the residual stream in block 1. */
const MIX = 0;

/** Architecture of the embedded backbone. */
export const EMBEDDED_CONFIG: VitConfig = {
  patch: 8,
  dim: 128,
  depth: 2,
  heads: 2,
  eps: 1e-6,
  posGrid: 8,
  mlpDim: 512,
};

/** Number of linear filter channels. */
export const EMBEDDED_NF = EMBEDDED_PERIODS.length * EMBEDDED_ORIENTATIONS * 2;
/** First energy channel. */
export const EMBEDDED_E0 = EMBEDDED_NF + 3;
/** Number of energy channels (one per quadrature pair). */
export const EMBEDDED_NE = EMBEDDED_NF / 2;
const E0 = EMBEDDED_E0, NE = EMBEDDED_NE;

/**
 * Builds the embedded backbone's weights (module header). Pure and deterministic: two calls return
 * bit-identical tensors.
 * @returns DINO-named float32 tensors with `source: "embedded"`
 */
export function embeddedVitWeights(): VitWeights {
  const c = EMBEDDED_CONFIG;
  const C = c.dim, p = c.patch, M = c.mlpDim, hd = C / c.heads;
  if (E0 + NE > C || 2 * EMBEDDED_NF > M || NE > hd) {
    throw new RangeError(`embedded backbone: ${EMBEDDED_NF} filters do not fit C=${C}, M=${M}`);
  }
  const t = new Map<string, Float32Array>();
  const zeros = (n: number) => new Float32Array(n);
  const ones = (n: number) => new Float32Array(n).fill(1);

  // ---- patch embedding: Gabor bank on luminance + colour means.
  const pe = zeros(C * 3 * p * p);
  let k = 0;
  const half = (p - 1) / 2;
  for (const period of EMBEDDED_PERIODS) {
    for (let o = 0; o < EMBEDDED_ORIENTATIONS; o++) {
      const th = (o * Math.PI) / EMBEDDED_ORIENTATIONS;
      for (const phase of [0, Math.PI / 2]) {
        const f = new Float64Array(p * p);
        for (let y = 0; y < p; y++) {
          for (let x = 0; x < p; x++) {
            const xx = x - half, yy = y - half;
            const u = xx * Math.cos(th) + yy * Math.sin(th);
            f[y * p + x] = Math.cos((2 * Math.PI * u) / period + phase) *
              Math.exp(-(xx * xx + yy * yy) / (2 * SIGMA * SIGMA));
          }
        }
        // Zero mean (no response to flat colour), unit L1 norm (comparable gains across filters).
        const mean = f.reduce((a, b) => a + b, 0) / f.length;
        let l1 = 0;
        for (let i = 0; i < f.length; i++) {
          f[i] -= mean;
          l1 += Math.abs(f[i]);
        }
        for (let ch = 0; ch < 3; ch++) {
          for (let i = 0; i < p * p; i++) pe[((k * 3 + ch) * p * p) + i] = (f[i] / l1 / 3) * FILTER_GAIN;
        }
        k++;
      }
    }
  }
  for (let ch = 0; ch < 3; ch++) {
    for (let i = 0; i < p * p; i++) pe[(((EMBEDDED_NF + ch) * 3 + ch) * p * p) + i] = COLOUR_GAIN / (p * p);
  }
  t.set("cls_token", zeros(C));
  t.set("pos_embed", zeros((c.posGrid * c.posGrid + 1) * C));
  t.set("patch_embed.proj.weight", pe);
  t.set("patch_embed.proj.bias", zeros(C));

  // ---- block 0: attention off, MLP = texture energy.
  const fc1 = zeros(M * C), fc2 = zeros(C * M);
  for (let j = 0; j < EMBEDDED_NF; j++) {
    fc1[j * C + j] = 1; // hidden j = +r_j
    fc1[(EMBEDDED_NF + j) * C + j] = -1; // hidden NF + j = −r_j
    const e = E0 + (j >> 1); // quadrature pair (cos, sin) → one energy channel
    fc2[e * M + j] = ENERGY_GAIN;
    fc2[e * M + EMBEDDED_NF + j] = ENERGY_GAIN;
  }
  setBlock(t, 0, C, M, { qkv: zeros(3 * C * C), proj: zeros(C * C), fc1, fc2 });

  // ---- block 1: attention by texture similarity, MLP off.
  // Head h's q and k are the energies scaled so that the head's logit (1/√hd)·⟨q, k⟩ = ATTN_SCALE·⟨e, e⟩;
  // every head is identical, so the head mean HP reads is that same logit.
  const qkv = zeros(3 * C * C), proj = zeros(C * C);
  const a = Math.sqrt(ATTN_SCALE * Math.sqrt(hd));
  for (let h = 0; h < c.heads; h++) {
    for (let j = 0; j < NE; j++) {
      qkv[(h * hd + j) * C + E0 + j] = a; // q rows [0, C)
      qkv[(C + h * hd + j) * C + E0 + j] = a; // k rows [C, 2C)
    }
  }
  for (let i = 0; i < C; i++) {
    qkv[(2 * C + i) * C + i] = 1; // v = LN'd token
    proj[i * C + i] = MIX;
  }
  setBlock(t, 1, C, M, { qkv, proj, fc1: zeros(M * C), fc2: zeros(C * M) });

  t.set("norm.weight", ones(C));
  t.set("norm.bias", zeros(C));
  return { config: { ...c }, tensors: t, source: "embedded", format: "embedded" };
}

function setBlock(
  t: Map<string, Float32Array>,
  i: number,
  C: number,
  M: number,
  w: { qkv: Float32Array; proj: Float32Array; fc1: Float32Array; fc2: Float32Array },
): void {
  const b = `blocks.${i}.`;
  t.set(b + "norm1.weight", new Float32Array(C).fill(1));
  t.set(b + "norm1.bias", new Float32Array(C));
  t.set(b + "attn.qkv.weight", w.qkv);
  t.set(b + "attn.qkv.bias", new Float32Array(3 * C));
  t.set(b + "attn.proj.weight", w.proj);
  t.set(b + "attn.proj.bias", new Float32Array(C));
  t.set(b + "norm2.weight", new Float32Array(C).fill(1));
  t.set(b + "norm2.bias", new Float32Array(C));
  t.set(b + "mlp.fc1.weight", w.fc1);
  t.set(b + "mlp.fc1.bias", new Float32Array(M));
  t.set(b + "mlp.fc2.weight", w.fc2);
  t.set(b + "mlp.fc2.bias", new Float32Array(C));
}

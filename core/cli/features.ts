/**
 * `hpseg features`: DINO patch features and head-mean attention logits of images, to safetensors
 * (dino-backbone.md §2.1; hp-method.md §2.1, §3.2 eval transform).
 *
 * Each image is decoded (JPEG: core/image/jpeg.ts, libjpeg-exact; otherwise core/image/codecs.ts), resized so its shorter side is --size with PIL-style nearest
 * neighbour, centre-cropped to --size² with torchvision's offsets, normalised with the ImageNet mean/std,
 * and run through the frozen ViT. Output tensors (float32): `features` [B, P, C] (patch tokens after the
 * final LayerNorm, CLS dropped, rows b·P + y·S + x) and `attn` [B, P, P] (last block, pre-softmax logits
 * averaged over heads, patch tokens only). Metadata records the weights, variant, size and image list.
 * @module
 */
import { type Command, intOpt, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import { loadVitWeights, variantName, type VitWeights } from "../vit/weights.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { VitBackbone } from "../vit/vit.ts";
import { type PrecisionChoice, resolvePrecision, type VitPrecision } from "../vit/precision.ts";
import { nearestMultiples } from "../vit/variants.ts";
import { decodeImage, readBytes, type RgbImage } from "../image/codecs.ts";
import { InputError, UsageError } from "../errors.ts";
import { evalTransform, normalizeImageNet } from "../image/transforms.ts";
import { MAX_BATCH, MAX_RESOLUTION } from "../limits.ts";
import { refuseOutputFileOverInputs } from "../io/paths.ts";

const HELP = `Usage: hpseg features --weights FILE --out OUT.safetensors [options] IMAGE...

Extract DINO patch features and attention logits to safetensors.

Writes float32 tensors "features" [B, P, C] (patch tokens after the final LayerNorm, CLS dropped,
row b·P + y·S + x) and "attn" [B, P, P] (last block's pre-softmax logits averaged over heads, patch
tokens only). Images (JPEG or PNG) get the evaluation transform: shorter side resized to --size with
nearest neighbour, centre crop --size×--size, ImageNet mean/std normalisation.

Weights: an official DINO .pth (backbone or full checkpoint), an HP ckpt.pth, a Hugging Face
facebook/dino-* model.safetensors / pytorch_model.bin, or a DINOv2 dinov2_vit{s,b,l}14[_reg4]_pretrain.pth
or facebook/dinov2-* file (see README "Backbone weights", "DINOv2 backbones"). DINOv2 has patch 14:
--size must be a multiple of 14 (224 → 16×16 patches, 322 → 23×23); other sizes are refused.

Options:
  --weights FILE   ViT weights (.pth, .bin or .safetensors)               (required)
  --out FILE       Output .safetensors file                               (required)
  --size N         Crop size in pixels, a multiple of the patch size     (default 224)
  --batch N        Images per forward pass                                (default 8)
  --heads N        Attention heads (default: width/64, as in every DINO and DINOv2 model)
  --eps E          LayerNorm epsilon                                      (default 1e-6)
  --precision P    Backbone arithmetic: auto, f32 or f16 (README "Backbone precision"; auto = f16 on a
                   GPU with shader-f16, f32 on software adapters)           (default auto)
  --no-attn        Do not compute or write "attn"
  -h, --help       Show this help`;

/** What {@link extractFeatures} returns. */
export interface FeatureResult {
  weights: VitWeights;
  /** What the backbone ran in. */
  precision: VitPrecision;
  grid: number;
  features: Float32Array;
  attn: Float32Array | null;
}

/**
 * Runs the eval transform and the ViT over `images` (paths), `batch` at a time.
 * @returns features [n, P, C] and (unless `attn` is false) attn [n, P, P], n = images.length.
 */
export async function extractFeatures(opts: {
  weights: string;
  images: string[];
  size: number;
  batch?: number;
  heads?: number;
  eps?: number;
  attn?: boolean;
  precision?: PrecisionChoice;
}): Promise<FeatureResult> {
  for (const path of opts.images) {
    // Fail on a missing image before the weights and the GPU are set up.
    try {
      if (!Deno.statSync(path).isFile) throw new InputError(`Image ${path} is not a file`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new InputError(`Missing image file ${path}`);
      throw err;
    }
  }
  const weights = await loadVitWeights(opts.weights, { heads: opts.heads, eps: opts.eps });
  const p = weights.config.patch, s = opts.size;
  if (!Number.isInteger(s) || s <= 0 || s % p !== 0) {
    throw new UsageError(
      `--size must be a positive multiple of the patch size ${p}, got ${s}${nearestMultiples(s, p)}`,
    );
  }
  const n = opts.images.length;
  const B = Math.max(1, Math.min(opts.batch ?? 8, n));
  const wantAttn = opts.attn ?? true;
  const gpu = await openGpu();
  const arena = new BufferArena(gpu, "features");
  let vit: VitBackbone | null = null;
  try {
    const precision = resolvePrecision(opts.precision ?? "auto", gpu);
    vit = await VitBackbone.create(gpu, arena, weights, {
      batch: B,
      height: s,
      width: s,
      attn: wantAttn,
      precision,
    });
    const P = vit.patches, C = weights.config.dim;
    const features = new Float32Array(n * P * C);
    const attn = wantAttn ? new Float32Array(n * P * P) : null;
    const images = arena.tensor([B, 3, s, s], "f32", "images");
    const host = new Float32Array(B * 3 * s * s);
    for (let first = 0; first < n; first += B) {
      const count = Math.min(B, n - first);
      host.fill(0); // a short last batch is padded with zero images; their outputs are dropped
      for (let i = 0; i < count; i++) {
        const img = evalTransform(await loadImage(opts.images[first + i]), s);
        normalizeImageNet(img, host, i * 3 * s * s);
      }
      images.write(host);
      const rec = new StepRecorder(gpu, "features");
      vit.encode(rec, images);
      rec.submit();
      const f = await readF32(gpu, vit.features);
      features.set(f.subarray(0, count * P * C), first * P * C);
      if (attn) attn.set((await readF32(gpu, vit.attn!)).subarray(0, count * P * P), first * P * P);
    }
    return { weights, precision, grid: s / p, features, attn };
  } finally {
    vit?.destroy();
    arena.destroyAll();
    gpu.destroy();
  }
}

/**
 * Decodes an image file. JPEGs go through the libjpeg-exact decoder (core/image/jpeg.ts, via core/data's
 * decodeImage) so features match a PIL/PyTorch pipeline; formats it does not cover (CMYK, arithmetic,
 * 12-bit) fall back to the shared WASM decoder.
 */
export async function loadImage(path: string): Promise<RgbImage> {
  return decodeImage(await readBytes(path, "image"), path);
}

export const command: Command = {
  name: "features",
  summary: "Extract DINO patch features and attention logits to safetensors",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("features", argv, {
      weights: { type: "string" },
      out: { type: "string" },
      size: { type: "string" },
      batch: { type: "string" },
      heads: { type: "string" },
      eps: { type: "string" },
      precision: { type: "string" },
      "no-attn": { type: "boolean" },
    }, true);
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const weights = stringOpt(args, "weights");
    const out = stringOpt(args, "out");
    if (!weights) throw new UsageError("features: --weights FILE is required");
    if (!out) throw new UsageError("features: --out FILE.safetensors is required");
    if (args.positionals.length === 0) throw new UsageError("features: give at least one IMAGE");
    const size = intOpt(args, "size", { min: 1, max: MAX_RESOLUTION }, 224);
    const batch = intOpt(args, "batch", { min: 1, max: MAX_BATCH }, 8);
    const heads = numberOpt(args, "heads");
    if (heads !== undefined && (!Number.isInteger(heads) || heads < 1)) {
      throw new UsageError(`--heads must be a positive integer, got ${heads}`);
    }
    const eps = numberOpt(args, "eps");
    const precision = stringOpt(args, "precision", "auto")!;
    if (!["auto", "f32", "f16"].includes(precision)) {
      throw new UsageError(`--precision must be auto, f32 or f16, got "${precision}"`);
    }
    const attnWanted = args.values["no-attn"] !== true;
    refuseOutputFileOverInputs("--out", out, [
      { what: "--weights file", path: weights },
      ...args.positionals.map((p) => ({ what: "input image", path: p })),
    ]);
    const t0 = performance.now();
    const r = await extractFeatures({
      weights,
      images: args.positionals,
      size,
      batch,
      heads,
      eps,
      attn: attnWanted,
      precision: precision as PrecisionChoice,
    });
    const n = args.positionals.length, P = r.grid * r.grid, C = r.weights.config.dim;
    const tensors: Parameters<typeof writeSafetensors>[1] = {
      features: { shape: [n, P, C], data: r.features },
    };
    if (r.attn) tensors.attn = { shape: [n, P, P], data: r.attn };
    await writeSafetensors(out, tensors, {
      weights,
      variant: variantName(r.weights.config),
      format: r.weights.format,
      size: String(size),
      grid: `${r.grid}x${r.grid}`,
      precision: r.precision,
      images: JSON.stringify(args.positionals),
    });
    console.error(
      `features: ${n} image(s), ${variantName(r.weights.config)} at ${size}² in ${r.precision} → ${out} ` +
        `(features [${n}, ${P}, ${C}]${r.attn ? `, attn [${n}, ${P}, ${P}]` : ""}; ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    return 0;
  },
};

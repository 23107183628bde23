/**
 * Backbone variants as configs name them (dino-backbone.md §1.1), and DINOv2's patch-14 size rule.
 *
 * `backbone.arch` names a DINOv2 variant like its released file: dinov2_vits14, dinov2_vitb14,
 * dinov2_vitl14 and their `_reg4` forms (`dinov2_vits14_reg4_pretrain.pth`). The weights decide what runs;
 * this module checks that a config naming a DINOv2 arch gets those weights and vice versa (the DINO v1
 * names vit_small / vit_base are checked by the trainer's own rules).
 *
 * Sizes that are not multiples of the patch size are refused (not centre-cropped), with the nearest
 * multiples named: 320 → 308 or 322 for patch 14.
 * @module
 */
import { InputError } from "../errors.ts";
import { variantName, type VitConfig } from "./weights.ts";
import { dinov2Size } from "./dinov2_weights.ts";

/** The DINOv2 `backbone.arch` values. */
export const DINOV2_ARCHS = [
  "dinov2_vits14",
  "dinov2_vits14_reg4",
  "dinov2_vitb14",
  "dinov2_vitb14_reg4",
  "dinov2_vitl14",
  "dinov2_vitl14_reg4",
] as const;

/** One of {@link DINOV2_ARCHS}. */
export type Dinov2Arch = typeof DINOV2_ARCHS[number];

/** Whether `arch` names a DINOv2 variant. */
export function isDinov2Arch(arch: string): arch is Dinov2Arch {
  return (DINOV2_ARCHS as readonly string[]).includes(arch);
}

/** The `backbone.arch` name of DINOv2 weights (`dinov2_vitb14_reg4` …), or null for anything else. */
export function dinov2ArchOf(c: VitConfig): Dinov2Arch | null {
  if (!c.layerScale || c.patch !== 14) return null;
  const size = dinov2Size(c.dim, c.depth);
  const R = c.registers ?? 0;
  if (!size || (R !== 0 && R !== 4)) return null;
  return `dinov2_vit${size.toLowerCase()}14${R ? "_reg4" : ""}` as Dinov2Arch;
}

/** " (nearest: 308 or 322)" for a size that is not a multiple of `patch`; "" when it is. */
export function nearestMultiples(size: number, patch: number): string {
  if (!Number.isInteger(size) || size % patch === 0) return "";
  const lo = Math.floor(size / patch) * patch, hi = lo + patch;
  return lo > 0 ? ` (nearest: ${lo} or ${hi})` : ` (nearest: ${hi})`;
}

/**
 * Checks that a config's backbone names the weights it got, wherever DINOv2 is involved: a DINOv2 arch
 * needs those DINOv2 weights (size and registers), DINOv2 weights need that arch, and `backbone.patch`
 * must be 14 for them.
 * @throws InputError naming both sides.
 */
export function checkDinov2Backbone(
  backbone: { arch: string; patch: number; weights: string },
  weights: { config: VitConfig; source: string },
): void {
  const got = dinov2ArchOf(weights.config);
  const named = backbone.arch;
  if (!isDinov2Arch(named) && !weights.config.layerScale) return; // DINO v1 on both sides
  const what = `${weights.source} holds ${variantName(weights.config)}`;
  if (got === null) {
    throw new InputError(
      `backbone.arch ${named} does not match the weights: ${what}` +
        (weights.config.layerScale
          ? ", which is not a ViT-S/14, B/14 or L/14 DINOv2 with 0 or 4 registers"
          : ""),
    );
  }
  if (got !== named || backbone.patch !== 14) {
    throw new InputError(
      `backbone.arch ${named} (patch ${backbone.patch}) does not match the weights: ${what}; ` +
        `set backbone.arch=${got} and backbone.patch=14`,
    );
  }
}

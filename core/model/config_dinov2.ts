/**
 * The DINOv2 training configs (dino-backbone.md §1.1; README "DINOv2 backbones"), kept apart from core/model/config.ts: COCO-Stuff-27 with HP's
 * COCO hyper-parameters (hp-method.md §7) on a frozen DINOv2 ViT-S/14 or B/14, with or without 4 registers.
 *
 * Patch 14: training at 224 px gives a 16×16 grid (P = 256 patches per crop; HP's ViT-S/8 has 28×28);
 * evaluation at 322 px (23×23), the multiple of 14 nearest HP's 320 — the shorter side is resized to 322
 * and the centre 322×322 crop is scored, the same field of view as HP's 320 protocol. Sizes that are not
 * multiples of 14 are refused, not cropped. LHP keeps its 3×3 window and σ = 28 (fixed, as in HP's code).
 * `--set train.res=448` trains on a 32×32 grid (closest to HP's 28×28, four times the backbone cost).
 * @module
 */
import s14 from "../../configs/cocostuff27_dinov2_s14.yaml" with { type: "text" };
import s14reg from "../../configs/cocostuff27_dinov2_s14_reg4.yaml" with { type: "text" };
import b14 from "../../configs/cocostuff27_dinov2_b14.yaml" with { type: "text" };
import b14reg from "../../configs/cocostuff27_dinov2_b14_reg4.yaml" with { type: "text" };
import { DINOV2_ARCHS, type Dinov2Arch, isDinov2Arch } from "../vit/variants.ts";

export { DINOV2_ARCHS, type Dinov2Arch };

/** DINOv2's patch size. */
export const DINOV2_PATCH = 14;

/** The embedded DINOv2 configs by name (`--config cocostuff27_dinov2_s14`). */
export const DINOV2_CONFIGS: Record<string, string> = {
  cocostuff27_dinov2_s14: s14,
  cocostuff27_dinov2_s14_reg4: s14reg,
  cocostuff27_dinov2_b14: b14,
  cocostuff27_dinov2_b14_reg4: b14reg,
};

/** Arch ↔ patch: DINOv2 archs need patch 14, and patch 14 needs a DINOv2 arch. Calls `fail` otherwise. */
export function dinov2ConfigRelations(
  backbone: { arch: string; patch: number },
  fail: (msg: string) => never,
): void {
  const { arch, patch } = backbone;
  if (isDinov2Arch(arch) && patch !== DINOV2_PATCH) {
    fail(`backbone.arch ${arch} has patch 14, but backbone.patch is ${patch}`);
  }
  if (!isDinov2Arch(arch) && arch !== "auto" && patch === DINOV2_PATCH) {
    fail(
      `backbone.patch 14 is DINOv2's; backbone.arch ${arch} has patch 8 or 16 (DINOv2 archs: ${
        DINOV2_ARCHS.join(", ")
      })`,
    );
  }
}

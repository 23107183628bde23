/**
 * The frozen backbone of a run (hp-method.md §2.1): its weights come from the embedded formula or a file,
 * and the weights decide the variant (README "Backbone weights"). `backbone.arch` / `backbone.patch` in a config say what
 * the user expects; a file holding another variant is refused in one line instead of silently training it,
 * and `auto` takes whatever the file holds. {@link resolveBackbone} returns the config with the variant that
 * really trains, which is what the run's config.yaml and checkpoints record.
 * @module
 */
import { InputError } from "../errors.ts";
import { loadVitWeights, type VitConfig, type VitWeights } from "../vit/vit.ts";
import { variantName } from "../vit/weights.ts";
import { checkDinov2Backbone, dinov2ArchOf, isDinov2Arch } from "../vit/variants.ts";
import type { HpConfig } from "./config_schema.ts";
import { embeddedVitWeights } from "../vit/embedded.ts";

/** The backbone weights a config names (embedded formula or a file). */
export async function backboneWeights(cfg: HpConfig): Promise<VitWeights> {
  if (cfg.backbone.arch === "embedded") return embeddedVitWeights();
  if (!cfg.backbone.weights) {
    throw new InputError(`backbone.weights is empty for backbone.arch ${cfg.backbone.arch}`, {
      hint: "pass --set backbone.weights=PATH (a DINO .pth or .safetensors file)",
    });
  }
  return await loadVitWeights(cfg.backbone.weights);
}

/**
 * The `backbone.arch` value of loaded weights: a DINOv2 variant by size and registers, a DINO ViT by width
 * (null for shapes no named arch has).
 */
export function archOf(c: VitConfig): HpConfig["backbone"]["arch"] | null {
  if (c.layerScale) return dinov2ArchOf(c);
  return c.dim === 384 ? "vit_small" : c.dim === 768 ? "vit_base" : null;
}

/**
 * Checks the loaded weights against `backbone.arch` / `backbone.patch` and returns the config that
 * records what trains (`auto` replaced by the detected arch when it has a name).
 * @throws InputError in one line when the config names another variant than the weights hold
 */
export function resolveBackbone(cfg: HpConfig, weights: VitWeights): HpConfig {
  const bb = cfg.backbone, c = weights.config;
  if (bb.arch === "embedded") return cfg;
  // A named DINOv2 arch, or DINOv2 weights under a DINO v1 name: DINOv2's own messages (size, registers).
  if (bb.arch !== "auto" && (isDinov2Arch(bb.arch) || c.layerScale)) {
    checkDinov2Backbone(bb, weights);
    return cfg;
  }
  const arch = archOf(c);
  const archOk = bb.arch === "auto" || bb.arch === arch;
  if (archOk && bb.patch === c.patch) {
    return arch && bb.arch === "auto" ? { ...cfg, backbone: { ...bb, arch } } : cfg;
  }
  const want = `backbone.arch ${bb.arch}, backbone.patch ${bb.patch}`;
  const fix = [
    archOk ? "" : `--set backbone.arch=${arch ?? "auto"}`,
    bb.patch === c.patch ? "" : `--set backbone.patch=${c.patch}`,
  ].filter((x) => x).join(" ");
  throw new InputError(
    `backbone.weights ${bb.weights} holds ${variantName(c)} (width ${c.dim}, patch ${c.patch}) but the ` +
      `config says ${want}; the weights decide the variant: ${fix}, or give weights of the variant you meant`,
  );
}

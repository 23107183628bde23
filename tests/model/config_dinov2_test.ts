/**
 * DINOv2 configs and variant rules (issue 16; core/model/config_dinov2.ts, core/vit/variants.ts): the four
 * embedded COCO-Stuff DINOv2 configs keep HP's COCO hyper-parameters and change only the backbone and the
 * evaluation size (322 = 23×23 patches); arch ↔ patch ↔ size relations are refused in one line naming the
 * nearest multiples of 14; a config's DINOv2 arch must name the weights it gets.
 * @module
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../core/model/config.ts";
import { checkDinov2Backbone, dinov2ArchOf, nearestMultiples } from "../../core/vit/variants.ts";
import type { VitConfig } from "../../core/vit/weights.ts";
import { assertInputError } from "../_util.ts";

const S14: VitConfig = {
  patch: 14,
  dim: 384,
  depth: 12,
  heads: 6,
  eps: 1e-6,
  posGrid: 37,
  mlpDim: 1536,
  registers: 0,
  layerScale: true,
  posResize: "offset",
};

Deno.test("cocostuff27_dinov2_{s14,b14}[_reg4]: HP's COCO settings with a DINOv2 backbone at 224 / 322", () => {
  const coco = loadConfig("cocostuff27");
  for (
    const [name, arch] of [
      ["cocostuff27_dinov2_s14", "dinov2_vits14"],
      ["cocostuff27_dinov2_s14_reg4", "dinov2_vits14_reg4"],
      ["cocostuff27_dinov2_b14", "dinov2_vitb14"],
      ["cocostuff27_dinov2_b14_reg4", "dinov2_vitb14_reg4"],
    ]
  ) {
    const c = loadConfig(name);
    assert.deepEqual(c.backbone, {
      arch,
      patch: 14,
      weights: `weights/${arch}_pretrain.pth`,
      precision: "auto",
    });
    assert.deepEqual([c.train.res, c.eval.res], [224, 322]);
    const same = (x: typeof c) => ({ ...x, backbone: null, eval: { ...x.eval, res: null } });
    assert.deepEqual(same(c), same(coco), `${name}: everything else as cocostuff27`);
  }
});

Deno.test("DINOv2 config relations: patch 14 ⇔ dinov2 arch; sizes not multiples of 14 name the nearest", () => {
  assertInputError(
    () => loadConfig("cocostuff27_dinov2_s14", ["eval.res=320"]),
    "eval.res 320 is not a multiple of backbone.patch 14 (nearest: 308 or 322)",
  );
  assertInputError(
    () => loadConfig("cocostuff27_dinov2_b14", ["train.res=256"]),
    "train.res 256 is not a multiple of backbone.patch 14 (nearest: 252 or 266)",
  );
  assertInputError(
    () => loadConfig("cocostuff27_dinov2_s14", ["backbone.patch=8"]),
    "backbone.arch dinov2_vits14 has patch 14, but backbone.patch is 8",
  );
  assertInputError(
    () => loadConfig("cocostuff27", ["backbone.patch=14", "train.res=224", "eval.res=322"]),
    "backbone.patch 14 is DINOv2's; backbone.arch vit_small has patch 8 or 16",
    "dinov2_vitl14_reg4",
  );
  // Switching an official config to DINOv2 by --set alone works (L/14 has no config file of its own).
  const l = loadConfig("cocostuff27", ["backbone.arch=dinov2_vitl14", "backbone.patch=14", "eval.res=322"]);
  assert.equal(l.backbone.arch, "dinov2_vitl14");
  assert.equal(nearestMultiples(480, 14), " (nearest: 476 or 490)");
  assert.equal(nearestMultiples(10, 14), " (nearest: 14)");
  assert.equal(nearestMultiples(448, 14), "");
});

Deno.test("checkDinov2Backbone(): a DINOv2 arch must name the weights it gets, and DINOv2 weights a DINOv2 arch", () => {
  const w = (config: VitConfig) => ({ config, source: "w.pth" });
  const bb = (arch: string, patch = 14) => ({ arch, patch, weights: "w.pth" });
  const reg4 = { ...S14, registers: 4, posResize: "antialias" as const };
  const l14 = { ...S14, dim: 1024, depth: 24, heads: 16, mlpDim: 4096 };
  assert.deepEqual([dinov2ArchOf(S14), dinov2ArchOf(reg4), dinov2ArchOf(l14)], [
    "dinov2_vits14",
    "dinov2_vits14_reg4",
    "dinov2_vitl14",
  ]);
  checkDinov2Backbone(bb("dinov2_vits14"), w(S14));
  checkDinov2Backbone(bb("dinov2_vits14_reg4"), w(reg4));
  checkDinov2Backbone(bb("dinov2_vitl14"), w(l14));
  checkDinov2Backbone(bb("vit_small", 8), w({ ...S14, patch: 8, posGrid: 28, layerScale: false })); // v1: not ours
  assertInputError(
    () => checkDinov2Backbone(bb("dinov2_vits14"), w(reg4)),
    "backbone.arch dinov2_vits14 (patch 14) does not match the weights: w.pth holds DINOv2 ViT-S/14-reg4",
    "set backbone.arch=dinov2_vits14_reg4",
  );
  assertInputError(
    () => checkDinov2Backbone(bb("vit_small", 8), w(S14)),
    "backbone.arch vit_small (patch 8) does not match the weights: w.pth holds DINOv2 ViT-S/14",
  );
  assertInputError(
    () => checkDinov2Backbone(bb("dinov2_vitb14"), w({ ...S14, patch: 8, posGrid: 28, layerScale: false })),
    "backbone.arch dinov2_vitb14 does not match the weights: w.pth holds ViT-S/8",
  );
  assertInputError(
    () => checkDinov2Backbone(bb("dinov2_vits14"), w({ ...S14, dim: 24, heads: 2, mlpDim: 96, depth: 2 })),
    "holds custom DINOv2 ViT (C=24, depth 2, 2 heads, p14), which is not a ViT-S/14, B/14 or L/14",
  );
});

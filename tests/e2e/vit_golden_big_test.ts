/**
 * The larger §5.1 golden cases of dino-backbone.md on the software adapter: ViT-S/8 at 224² and 320² and
 * ViT-B/16 at 224² with formula weights (about 100 s of lavapipe time together, in their own file so they run
 * in parallel with the rest of the suite). HPSEG_VIT_GOLDEN_BIG=0 skips them for quick local runs.
 * @module
 */
import { gpuTest } from "../_util.ts";
import { golden } from "../vit/_golden.ts";

const skip = Deno.env.get("HPSEG_VIT_GOLDEN_BIG") === "0";
if (skip) console.warn("vit_golden_big_test: skipped (HPSEG_VIT_GOLDEN_BIG=0)");
const S8 = { patch: 8, dim: 384, depth: 12, heads: 6, posGrid: 28 };
const B16 = { patch: 16, dim: 768, depth: 12, heads: 12, posGrid: 14 };

if (!skip) {
  gpuTest("§5.1 golden: ViT-S/8 224²", ({ gpu, arena }) => golden(gpu, arena, "S/8 224²", S8, 224, 224));
  gpuTest("§5.1 golden: ViT-B/16 224²", ({ gpu, arena }) => golden(gpu, arena, "B/16 224²", B16, 224, 224));
  gpuTest("§5.1 golden: ViT-S/8 320²", ({ gpu, arena }) => golden(gpu, arena, "S/8 320²", S8, 320, 320));
}

/**
 * The frozen ViT's arithmetic precision, `backbone.precision` (dino-backbone.md §6.3; issue #13):
 * - "f32": every tensor f32; ≤ 1e-4 from PyTorch's float32/float64 forward (tests/vit/vit_test.ts).
 * - "f16": mixed precision as the official HP code's fp16 autocast does it — the block GEMM weights and
 *   the activations the GEMMs and the attention read or write (LayerNorm outputs, qkv, attention output,
 *   MLP hidden layer) are stored as f16; every product is summed in f32, LayerNorm statistics and the
 *   softmax are f32, the residual stream and the features HP reads stay f32. Half the bytes of the
 *   weight and activation traffic; its error against a float64 forward on the same stored values is
 *   bounded in tests/vit/vit_f16_test.ts (README "Backbone precision").
 * - "auto" (the default): f16 on a hardware adapter with shader-f16, f32 otherwise. On a software adapter
 *   (lavapipe) the CPU converts every f16 load and store and sums in f32 anyway: bench vit measured f16 at
 *   0.77–1.59× f32 there, within the load noise (BENCHMARKS.md), so there is no reliable gain, and f32 keeps
 *   CI's embedded-default results exactly those of the f32 forward.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { InputError } from "../errors.ts";

/** What a backbone runs in. */
export type VitPrecision = "f32" | "f16";

/** What a config may ask for. */
export type PrecisionChoice = VitPrecision | "auto";

/**
 * The precision `choice` means on `gpu`.
 * @throws InputError (one line) when f16 is asked of an adapter without shader-f16.
 */
export function resolvePrecision(
  choice: PrecisionChoice,
  gpu: Pick<Gpu, "hasF16" | "isSoftware" | "description">,
): VitPrecision {
  if (choice === "auto") return gpu.hasF16 && !gpu.isSoftware ? "f16" : "f32";
  if (choice === "f16" && !gpu.hasF16) {
    throw new InputError(
      `backbone.precision f16 needs the shader-f16 feature, which adapter "${gpu.description}" lacks; ` +
        "use backbone.precision=f32 (or auto)",
    );
  }
  return choice;
}

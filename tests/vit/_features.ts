/**
 * Checks a `features` output file (safetensors with `features` and `attn`) against expected tensors, for the
 * DINOv2 tests of both tiers.
 * @module
 */
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { assertAllClose } from "../_util.ts";

/** Features within 1e-4 and attention logits within 1e-3 of the expectations; returns the max errors. */
export function checkFeatures(out: string, feat: Float32Array, attn: Float32Array, label: string) {
  const st = readSafetensorsSync(out);
  try {
    const ef = assertAllClose(st.getF32("features"), feat, {
      atol: 1e-4,
      rtol: 0,
      label: `${label} features`,
    });
    const ea = assertAllClose(st.getF32("attn"), attn, { atol: 1e-3, rtol: 0, label: `${label} attn` });
    return { ef, ea, variant: st.metadata.variant };
  } finally {
    st.close();
  }
}

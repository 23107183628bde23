/**
 * Test inputs for the LHP weights (hp-method.md §5.5), shared by tests/model/lhp_test.ts and lhp_count_test.ts.
 * @module
 */
import { lhpWeightsRef } from "../../core/model/loss_ref.ts";
import { randnF32 } from "../_util.ts";

/** Spatially structured logits (near keys score higher) whose window decisions are ≥ 1e-5 from the mean. */
export function attention(B: number, S: number, seed0: number): Float32Array {
  const P = S * S;
  for (let seed = seed0; seed < seed0 + 50; seed++) {
    const a = randnF32(B * P * P, seed, 1.5);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < P; i++) {
        for (let j = 0; j < P; j++) {
          const dy = Math.floor(i / S) - Math.floor(j / S), dx = (i % S) - (j % S);
          a[(b * P + i) * P + j] += -0.35 * (dy * dy + dx * dx);
        }
      }
    }
    if (lhpWeightsRef(a, B, S).margin > 1e-5) return a;
  }
  throw new Error("no unambiguous attention found");
}

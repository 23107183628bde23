/**
 * The per-step schedule of HP training: the λ ramp of hp-method.md §5.8 and the random seeds one step
 * draws (dropout masks, Bernoulli negatives), whose order is part of the checkpoint contract.
 * @module
 */
import type { Rng } from "../rng.ts";

/** λ_t of hp-method.md §5.8: 0 while t ≤ warmup, then (t − warmup)/(T − warmup). */
export function lambdaAt(t: number, warmup: number, total: number): number {
  if (t <= warmup || total <= warmup) return 0;
  return (t - warmup) / (total - warmup);
}

/** The seeds one step draws, in this order, from the trainer's main Rng. */
export interface StepSeeds {
  head: { a: number; b: number };
  ema: { a: number; b: number; out: number };
  fhat: number;
  mixed: number;
  aug: { a: number; b: number };
  negatives: number;
}

/** Draws one step's seeds (the order is part of the checkpoint contract: same Rng state → same seeds). */
export function drawStepSeeds(rng: Rng): StepSeeds {
  const u = () => rng.nextU32();
  return {
    head: { a: u(), b: u() },
    ema: { a: u(), b: u(), out: u() },
    fhat: u(),
    mixed: u(),
    aug: { a: u(), b: u() },
    negatives: u(),
  };
}

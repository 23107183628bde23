/**
 * EMA ("momentum") head update ξ ← m·ξ + (1−m)·θ over the flat buffers (hp-method.md §2.3), one dispatch.
 *
 * Timing (the trainer's job): record it once per iteration after the clean train-mode forward and the EMA
 * forward of that batch (the EMA code at iteration t uses ξ_{t−1}), and before the optimiser step (θ is the
 * pre-step parameter set). Pool construction and the augmented forward never update ξ.
 * Kernel: the library's elementwise "add" (core/kernels/elementwise.ts, α = m, β = 1−m, in place on ξ).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import { checkDims, checkExtent } from "./common.ts";
import { prepareElementwise } from "./elementwise.ts";

/** CPU reference in the kernel's f32 arithmetic: ξ·m + θ·(1−m) with m and 1−m rounded to f32. */
export function emaUpdateRef(xi: Float32Array, theta: ArrayLike<number>, m: number): Float32Array {
  const out = new Float32Array(xi.length);
  const mf = Math.fround(m), omf = Math.fround(1 - m);
  for (let i = 0; i < xi.length; i++) {
    out[i] = Math.fround(Math.fround(xi[i] * mf) + Math.fround(theta[i] * omf));
  }
  return out;
}

/**
 * Prepares ξ ← m·ξ + (1−m)·θ over n elements (m fixed for the run, so the uniform is written once).
 * @throws RangeError when m is outside [0, 1]; TypeError when a buffer is too small.
 */
export async function prepareEmaUpdate(
  gpu: Gpu,
  arena: BufferArena,
  n: number,
  theta: GpuTensor,
  xi: GpuTensor,
  m: number,
): Promise<Dispatch> {
  checkDims("ema", { n });
  if (!(m >= 0 && m <= 1)) throw new RangeError(`ema: momentum must be in [0, 1], got ${m}`);
  checkExtent("ema", "theta", theta, n);
  checkExtent("ema", "xi", xi, n);
  return await prepareElementwise(gpu, arena, { op: "add", rows: 1, cols: n, alpha: m, beta: 1 - m }, {
    x: xi,
    y: theta,
    out: xi,
  });
}

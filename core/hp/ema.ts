/**
 * EMA ("momentum") head update ξ ← m·ξ + (1−m)·θ over the flat buffers (hp-method.md §2.3), one kernel.
 *
 * Timing (the trainer's job): record it once per iteration after the clean train-mode forward and the EMA
 * forward of that batch (the EMA code at iteration t uses ξ_{t−1}), and before the optimiser step (θ is the
 * pre-step parameter set). Pool construction and the augmented forward never update ξ.
 * Kernel: shaders/ema.wgsl.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import { checkDims, checkExtent } from "../kernels/_common.ts";
import { elementGrid } from "./_gpu.ts";
import source from "../../shaders/ema.wgsl" with { type: "text" };

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
  const kernel = await getKernel(gpu, { file: "ema.wgsl", source, bindings: ["read", "rw", "uniform"] });
  const uniform = arena.uniform(packUniform([[n, "u32"], [m, "f32"], [1 - m, "f32"]]), "ema-params");
  return { kernel, bindGroup: bindGroup(gpu, kernel, [theta, xi, uniform]), workgroups: elementGrid(gpu, n) };
}

/**
 * Row L2 normalisation z = u / max(‖u‖₂, 1e-12) (PyTorch F.normalize, hp-method.md §0) and its backward
 * ∂L/∂u = (∂L/∂z − z⟨z, ∂L/∂z⟩) / ‖u‖ (§5.9). Used by the projection head (§2.4), for the normalised
 * dropout'd features f̂ and EMA codes ŝ̄ (§1 step 4, no gradient) and for the pool rows (§4).
 * Kernel: shaders/kernels/l2norm.wgsl.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent, rowGrid, rwDummy } from "./common.ts";
import source from "../../shaders/kernels/l2norm.wgsl" with { type: "text" };

/** The clamp of F.normalize. */
export const NORM_EPS = 1e-12;

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/** Returns { z, norms } with z = x / max(‖x‖, eps) row-wise; x is [rows, C]. */
export function l2normalizeRef(
  rows: number,
  C: number,
  x: ArrayLike<number>,
  eps = NORM_EPS,
): { z: Float64Array; norms: Float64Array } {
  const z = new Float64Array(rows * C);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c] ** 2;
    const n = Math.max(Math.sqrt(ss), eps);
    norms[r] = n;
    for (let c = 0; c < C; c++) z[r * C + c] = x[r * C + c] / n;
  }
  return { z, norms };
}

/** Backward of {@link l2normalizeRef}: ∂L/∂u from z, the clamped norms and ∂L/∂z. */
export function l2normalizeBackwardRef(
  rows: number,
  C: number,
  z: ArrayLike<number>,
  norms: ArrayLike<number>,
  dz: ArrayLike<number>,
  eps = NORM_EPS,
): Float64Array {
  const du = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const n = norms[r];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += z[r * C + c] * dz[r * C + c];
    for (let c = 0; c < C; c++) {
      const g = dz[r * C + c];
      du[r * C + c] = n <= eps ? g / n : (g - z[r * C + c] * dot) / n;
    }
  }
  return du;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/**
 * Row normalisation y = x / max(‖x‖, eps) over [rows, C]; in place when `x === y`. When `norms` ([rows])
 * is given, the clamped norms are stored for {@link prepareL2NormalizeBackward}.
 */
export async function prepareL2Normalize(
  gpu: Gpu,
  arena: BufferArena,
  rows: number,
  C: number,
  t: { x: GpuTensor; y: GpuTensor; norms?: GpuTensor },
): Promise<Dispatch> {
  checkDims("l2normalize", { rows, C });
  for (const [name, ten] of [["x", t.x], ["y", t.y]] as const) {
    checkDtype("l2normalize", name, ten, "f32");
    checkExtent("l2normalize", name, ten, rows * C);
  }
  if (t.norms) checkExtent("l2normalize", "norms", t.norms, rows);
  const inPlace = t.x === t.y;
  const kernel = await getKernel(gpu, {
    file: "kernels/l2norm.wgsl",
    source,
    entryPoint: "forward",
    bindings: ["read", "rw", "rw", "uniform"],
    constants: { X_IS_Y: inPlace ? 1 : 0, WRITE_NORM: t.norms ? 1 : 0 },
  });
  const uniform = arena.uniform(packUniform([[rows, "u32"], [C, "u32"], [NORM_EPS, "f32"]]), "l2norm-params");
  const dummy = arena.dummy();
  const bg = bindGroup(gpu, kernel, [inPlace ? dummy : t.x, t.y, t.norms ?? rwDummy(arena), uniform]);
  return { kernel, bindGroup: bg, workgroups: rowGrid(gpu, rows) };
}

/**
 * Backward of {@link prepareL2Normalize}: from the forward output `z`, its `norms` and ∂L/∂z, writes
 * ∂L/∂u into `du` (`accumulate`: du += …). `dz === du` runs in place (then accumulate is not allowed).
 */
export async function prepareL2NormalizeBackward(
  gpu: Gpu,
  arena: BufferArena,
  rows: number,
  C: number,
  t: { z: GpuTensor; norms: GpuTensor; dz: GpuTensor; du: GpuTensor },
  accumulate = false,
): Promise<Dispatch> {
  checkDims("l2normalize-backward", { rows, C });
  for (const [name, ten] of [["z", t.z], ["dz", t.dz], ["du", t.du]] as const) {
    checkDtype("l2normalize-backward", name, ten, "f32");
    checkExtent("l2normalize-backward", name, ten, rows * C);
  }
  checkExtent("l2normalize-backward", "norms", t.norms, rows);
  const inPlace = t.dz === t.du;
  if (inPlace && accumulate) {
    throw new TypeError("l2normalize-backward: cannot accumulate in place (dz === du)");
  }
  const kernel = await getKernel(gpu, {
    file: "kernels/l2norm.wgsl",
    source,
    entryPoint: "backward",
    bindings: ["read", "rw", "rw", "uniform", "read"],
    constants: { HAS_DZ: inPlace ? 0 : 1, ACCUMULATE: accumulate ? 1 : 0 },
  });
  const uniform = arena.uniform(packUniform([[rows, "u32"], [C, "u32"], [NORM_EPS, "f32"]]), "l2norm-params");
  const bg = bindGroup(gpu, kernel, [t.z, t.du, t.norms, uniform, inPlace ? arena.dummy() : t.dz]);
  return { kernel, bindGroup: bg, workgroups: rowGrid(gpu, rows) };
}

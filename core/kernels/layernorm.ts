/**
 * Row layernorm (dino-backbone.md §2: pre-norm blocks and the final norm, eps 1e-6) with optional affine
 * weight and bias and optional per-row (mean, rstd) output for a backward pass. Kernel:
 * shaders/kernels/layernorm.wgsl (with shaders/include/wg_reduce.wgsl). Variance is the biased one, as torch.nn.LayerNorm.
 * Y may be f16 (statistics and arithmetic stay f32; the value is rounded once when stored).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { withStorageTypes } from "../gpu/wgsl.ts";
import { checkDims, checkDtype, checkExtent, checkRowsInOut, rowWorkgroupSize } from "./common.ts";
import source from "../../shaders/kernels/layernorm.wgsl" with { type: "text" };

/** Layout of one layernorm over `rows` rows of width `cols`; strides and offsets in elements. */
export interface LayerNormShape {
  rows: number;
  cols: number;
  /** Added to the variance (default 1e-6, the DINO value; torch's default is 1e-5). */
  eps?: number;
  /** Row stride of X (default cols). */
  ldx?: number;
  /** Row stride of Y (default cols). */
  ldy?: number;
  xOffset?: number;
  yOffset?: number;
  /**
   * X rows in groups: row r of X is at xOffset + ⌊r/rows⌋·stride + (r mod rows)·ldx (Y stays dense by
   * ldy). The ViT's final norm reads the patch rows of every image this way in one dispatch.
   */
  xGroups?: { rows: number; stride: number };
}

/** Tensors of one layernorm. `weight`/`bias` are [cols]; `stats` is [rows, 2] = (mean, rstd). */
export interface LayerNormTensors {
  x: GpuTensor;
  y: GpuTensor;
  weight?: GpuTensor;
  bias?: GpuTensor;
  stats?: GpuTensor;
}

function resolve(s: LayerNormShape) {
  return {
    rows: s.rows,
    cols: s.cols,
    eps: s.eps ?? 1e-6,
    ldx: s.ldx ?? s.cols,
    ldy: s.ldy ?? s.cols,
    xOffset: s.xOffset ?? 0,
    yOffset: s.yOffset ?? 0,
    group: s.xGroups?.rows ?? s.rows,
    ldgx: s.xGroups?.stride ?? 0,
  };
}

/** Element index of X's row `row`. */
function xRow(r: ReturnType<typeof resolve>, row: number): number {
  return r.xOffset + Math.floor(row / r.group) * r.ldgx + (row % r.group) * r.ldx;
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/**
 * CPU reference for {@link prepareLayerNorm}: returns a float64 copy of `y` with the rows written and the
 * per-row stats as [mean, rstd] pairs.
 */
export function layerNormRef(
  shape: LayerNormShape,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  weight?: ArrayLike<number>,
  bias?: ArrayLike<number>,
): { y: Float64Array; stats: Float64Array } {
  const r = resolve(shape);
  const out = Float64Array.from(y);
  const stats = new Float64Array(2 * r.rows);
  for (let row = 0; row < r.rows; row++) {
    const base = xRow(r, row);
    let s = 0;
    for (let c = 0; c < r.cols; c++) s += x[base + c];
    const mean = s / r.cols;
    let q = 0;
    for (let c = 0; c < r.cols; c++) q += (x[base + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(q / r.cols + r.eps);
    for (let c = 0; c < r.cols; c++) {
      let v = (x[base + c] - mean) * rstd;
      if (weight) v *= weight[c];
      if (bias) v += bias[c];
      out[r.yOffset + row * r.ldy + c] = v;
    }
    stats[2 * row] = mean;
    stats[2 * row + 1] = rstd;
  }
  return { y: out, stats };
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/**
 * Compiles (cached) and binds one layernorm; returns the dispatch to record every step. `x === y` runs
 * in place (identical layouts required). The uniform is written once here and owned by `arena`.
 * @throws TypeError when a tensor is too small or has the wrong dtype.
 */
export async function prepareLayerNorm(
  gpu: Gpu,
  arena: BufferArena,
  shape: LayerNormShape,
  t: LayerNormTensors,
): Promise<Dispatch> {
  const r = resolve(shape);
  checkDims("layernorm", { rows: r.rows, cols: r.cols });
  checkDims("layernorm", { ldx: r.ldx, ldy: r.ldy, xOffset: r.xOffset, yOffset: r.yOffset }, true);
  if (!(r.eps >= 0)) throw new TypeError(`layernorm: eps must be ≥ 0, got ${r.eps}`);
  checkDims("layernorm", { groupRows: r.group });
  checkDims("layernorm", { groupStride: r.ldgx }, true);
  const grouped = shape.xGroups !== undefined;
  if (grouped && t.x === t.y) throw new TypeError("layernorm: xGroups cannot run in place");
  // Grouped X: check Y as a dense window and X at its last row. Y may be f16 (X, and so in place, not).
  const layout = grouped ? { ...r, ldx: 0, xOffset: 0 } : r;
  const inPlace = checkRowsInOut("layernorm", layout, t.x, t.y, ["f32", "f16"]);
  if (grouped) checkExtent("layernorm", "x", t.x, xRow(r, r.rows - 1) + r.cols);
  for (const name of ["x", "weight", "bias", "stats"] as const) {
    if (t[name]) checkDtype("layernorm", name, t[name], "f32");
  }
  if (t.weight) checkExtent("layernorm", "weight", t.weight, r.cols);
  if (t.bias) checkExtent("layernorm", "bias", t.bias, r.cols);
  if (t.stats) checkExtent("layernorm", "stats", t.stats, 2 * r.rows);
  const kernel = await getKernel(gpu, {
    file: "kernels/layernorm.wgsl",
    ...withStorageTypes("layernorm", source, { YT: t.y.dtype === "f16" ? "f16" : "f32" }, gpu.hasF16),
    bindings: ["read", "rw", "read", "read", "rw", "uniform"],
    constants: {
      WG: rowWorkgroupSize(r.cols),
      HAS_W: t.weight ? 1 : 0,
      HAS_B: t.bias ? 1 : 0,
      HAS_STATS: t.stats ? 1 : 0,
      X_IS_Y: inPlace ? 1 : 0,
    },
  });
  const uniform = arena.uniform(
    packUniform([
      [r.rows, "u32"],
      [r.cols, "u32"],
      [r.ldx, "u32"],
      [r.ldy, "u32"],
      [r.xOffset, "u32"],
      [r.yOffset, "u32"],
      [r.eps, "f32"],
      [r.group, "u32"],
      [r.ldgx, "u32"],
      [0, "u32"],
      [0, "u32"],
      [0, "u32"],
    ]),
    "layernorm-params",
  );
  const dummy = arena.dummy();
  // The stats binding is read_write; a dummy shared with the read-only bindings would alias, so give it
  // its own 4-byte tensor when no stats are wanted.
  const stats = t.stats ?? arena.tensor([1], "f32", "layernorm-no-stats");
  const bg = bindGroup(gpu, kernel, [
    inPlace ? dummy : t.x,
    t.y,
    t.weight ?? dummy,
    t.bias ?? dummy,
    stats,
    uniform,
  ]);
  return { kernel, bindGroup: bg, workgroups: grid1d(r.rows, gpu.limits.maxComputeWorkgroupsPerDimension) };
}

/**
 * Gather and scatter rows by index (e.g. selecting the patch rows of a token matrix, the sampled
 * negatives of hp-method.md, or writing rows back). Kernel: shaders/kernels/gather.wgsl.
 *
 * Indices are i32. Gather fills rows whose index is out of range with 0, so -1 works as padding.
 * Scatter skips such rows; its indices must be distinct (duplicates race: there is no deterministic
 * scatter-add here).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "./common.ts";
import source from "../../shaders/kernels/gather.wgsl" with { type: "text" };

/**
 * `n` rows of width `cols`. Gather: out[i] = src[idx[i]] for i < n, with `srcRows` rows in src.
 * Scatter: out[idx[i]] = src[i] (or +=), with `outRows` rows in out.
 */
export interface RowIndexShape {
  n: number;
  cols: number;
  /** Rows addressable on the indexed side: src for gather, out for scatter (indices ≥ this are skipped). */
  indexedRows: number;
  /** Row stride of src (default cols). */
  lds?: number;
  /** Row stride of out (default cols). */
  ldo?: number;
  srcOffset?: number;
  outOffset?: number;
  idxOffset?: number;
  /** Scatter only: out[idx[i]] += src[i]. */
  accumulate?: boolean;
}

/** Tensors of a gather or scatter. `idx` is i32 [n]. */
export interface RowIndexTensors {
  src: GpuTensor;
  idx: GpuTensor;
  out: GpuTensor;
}

function resolve(s: RowIndexShape) {
  return {
    n: s.n,
    cols: s.cols,
    indexedRows: s.indexedRows,
    lds: s.lds ?? s.cols,
    ldo: s.ldo ?? s.cols,
    srcOffset: s.srcOffset ?? 0,
    outOffset: s.outOffset ?? 0,
    idxOffset: s.idxOffset ?? 0,
    accumulate: s.accumulate ?? false,
  };
}

// ---------------------------------------------------------------------------------------------------
// CPU references

/** CPU reference for {@link prepareGatherRows}. */
export function gatherRowsRef(
  shape: RowIndexShape,
  src: ArrayLike<number>,
  idx: ArrayLike<number>,
  out: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const res = Float64Array.from(out);
  for (let i = 0; i < r.n; i++) {
    const j = idx[r.idxOffset + i];
    for (let c = 0; c < r.cols; c++) {
      res[r.outOffset + i * r.ldo + c] = j >= 0 && j < r.indexedRows ? src[r.srcOffset + j * r.lds + c] : 0;
    }
  }
  return res;
}

/** CPU reference for {@link prepareScatterRows} (distinct indices). */
export function scatterRowsRef(
  shape: RowIndexShape,
  src: ArrayLike<number>,
  idx: ArrayLike<number>,
  out: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const res = Float64Array.from(out);
  for (let i = 0; i < r.n; i++) {
    const j = idx[r.idxOffset + i];
    if (j < 0 || j >= r.indexedRows) continue;
    for (let c = 0; c < r.cols; c++) {
      const o = r.outOffset + j * r.ldo + c;
      res[o] = src[r.srcOffset + i * r.lds + c] + (r.accumulate ? res[o] : 0);
    }
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

async function prepare(
  gpu: Gpu,
  arena: BufferArena,
  mode: "gather" | "scatter",
  shape: RowIndexShape,
  t: RowIndexTensors,
): Promise<Dispatch> {
  const r = resolve(shape);
  const k = `${mode}Rows`;
  checkDims(k, { n: r.n, cols: r.cols });
  checkDims(k, {
    indexedRows: r.indexedRows,
    lds: r.lds,
    ldo: r.ldo,
    srcOffset: r.srcOffset,
    outOffset: r.outOffset,
    idxOffset: r.idxOffset,
  }, true);
  if (t.src === t.out) throw new TypeError(`${k}: src and out must be different tensors`);
  if (mode === "gather" && r.accumulate) throw new TypeError("gatherRows: accumulate is for scatter only");
  checkDtype(k, "src", t.src, "f32");
  checkDtype(k, "out", t.out, "f32");
  checkDtype(k, "idx", t.idx, "i32");
  checkExtent(k, "idx", t.idx, r.idxOffset + r.n);
  const srcRows = mode === "gather" ? r.indexedRows : r.n;
  const outRows = mode === "gather" ? r.n : r.indexedRows;
  if (srcRows > 0) checkExtent(k, "src", t.src, r.srcOffset + (srcRows - 1) * r.lds + r.cols);
  if (outRows > 0) checkExtent(k, "out", t.out, r.outOffset + (outRows - 1) * r.ldo + r.cols);
  const total = r.n * r.cols;
  if (total >= 2 ** 32) throw new RangeError(`${k}: ${r.n}×${r.cols} elements exceed u32 indexing`);
  const kernel = await getKernel(gpu, {
    file: "kernels/gather.wgsl",
    source,
    entryPoint: mode,
    bindings: ["read", "read", "rw", "uniform"],
    constants: { ACCUMULATE: r.accumulate ? 1 : 0 },
  });
  const uniform = arena.uniform(
    packUniform([
      [r.n, "u32"],
      [r.cols, "u32"],
      [r.lds, "u32"],
      [r.ldo, "u32"],
      [r.srcOffset, "u32"],
      [r.outOffset, "u32"],
      [r.idxOffset, "u32"],
      [r.indexedRows, "u32"],
    ]),
    `${mode}-params`,
  );
  const bg = bindGroup(gpu, kernel, [t.src, t.idx, t.out, uniform]);
  return {
    kernel,
    bindGroup: bg,
    workgroups: grid1d(Math.ceil(total / 256), gpu.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** Prepares out[i, :] = src[idx[i], :] for i < n (0 where idx[i] ∉ [0, indexedRows)). */
export function prepareGatherRows(
  gpu: Gpu,
  arena: BufferArena,
  shape: RowIndexShape,
  t: RowIndexTensors,
): Promise<Dispatch> {
  return prepare(gpu, arena, "gather", shape, t);
}

/** Prepares out[idx[i], :] = src[i, :] (or += with `accumulate`) for i < n; indices must be distinct. */
export function prepareScatterRows(
  gpu: Gpu,
  arena: BufferArena,
  shape: RowIndexShape,
  t: RowIndexTensors,
): Promise<Dispatch> {
  return prepare(gpu, arena, "scatter", shape, t);
}

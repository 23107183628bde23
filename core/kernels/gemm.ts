/**
 * GEMM: batched C = epilogue(alpha · op(A) · op(B)) with transposes, strides/offsets (to address
 * windows such as the q/k/v thirds of a qkv tensor), and fused bias / ReLU / GELU / residual / accumulate.
 * Kernel: shaders/kernels/gemm.wgsl.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type DType, GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel } from "../gpu/pipelines.ts";
import source from "../../shaders/kernels/gemm.wgsl" with { type: "text" };
import { gelu64 } from "./activations.ts";
import { checkExtent } from "./common.ts";
import { withStorageTypes } from "../gpu/wgsl.ts";

/** Activation applied after bias. */
export type Activation = "none" | "relu" | "gelu";

/** Shape and layout of one GEMM; all strides and offsets are in elements. */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  /** Row stride of A as stored (default K, or M when transA). */
  lda?: number;
  /** Row stride of B as stored (default N, or K when transB). */
  ldb?: number;
  /** Row stride of C (default N). */
  ldc?: number;
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
  /** Batch strides (default: one dense matrix after another; 0 broadcasts). */
  aBatchStride?: number;
  bBatchStride?: number;
  cBatchStride?: number;
  alpha?: number;
  act?: Activation;
  /** C += result instead of C = result. */
  accumulate?: boolean;
  residual?: { ld?: number; offset?: number; batchStride?: number };
}

interface Resolved extends Required<Omit<GemmShape, "residual">> {
  ldr: number;
  rOffset: number;
  rBatchStride: number;
  hasResidual: boolean;
}

function resolve(s: GemmShape): Resolved {
  const lda = s.lda ?? (s.transA ? s.M : s.K);
  const ldb = s.ldb ?? (s.transB ? s.K : s.N);
  const ldc = s.ldc ?? s.N;
  return {
    M: s.M,
    N: s.N,
    K: s.K,
    batch: s.batch ?? 1,
    transA: s.transA ?? false,
    transB: s.transB ?? false,
    lda,
    ldb,
    ldc,
    aOffset: s.aOffset ?? 0,
    bOffset: s.bOffset ?? 0,
    cOffset: s.cOffset ?? 0,
    aBatchStride: s.aBatchStride ?? s.M * s.K,
    bBatchStride: s.bBatchStride ?? s.K * s.N,
    cBatchStride: s.cBatchStride ?? s.M * ldc,
    alpha: s.alpha ?? 1,
    act: s.act ?? "none",
    accumulate: s.accumulate ?? false,
    hasResidual: s.residual !== undefined,
    ldr: s.residual?.ld ?? s.N,
    rOffset: s.residual?.offset ?? 0,
    rBatchStride: s.residual?.batchStride ?? s.M * (s.residual?.ld ?? s.N),
  };
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64 accumulation)

/**
 * CPU reference for {@link prepareGemm}: writes into (a copy of) `c` and returns it as float64.
 * Arrays are flat, laid out exactly as the GPU buffers.
 */
export function gemmRef(
  shape: GemmShape,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  bias?: ArrayLike<number>,
  residual?: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const out = Float64Array.from(c);
  for (let bt = 0; bt < r.batch; bt++) {
    for (let m = 0; m < r.M; m++) {
      for (let n = 0; n < r.N; n++) {
        let acc = 0;
        for (let k = 0; k < r.K; k++) {
          const av = a[r.aOffset + bt * r.aBatchStride + (r.transA ? k * r.lda + m : m * r.lda + k)];
          const bv = b[r.bOffset + bt * r.bBatchStride + (r.transB ? n * r.ldb + k : k * r.ldb + n)];
          acc += av * bv;
        }
        let v = r.alpha * acc;
        if (bias) v += bias[n];
        if (r.act === "relu") v = Math.max(v, 0);
        else if (r.act === "gelu") v = gelu64(v);
        if (r.hasResidual) v += residual![r.rOffset + bt * r.rBatchStride + m * r.ldr + n];
        const idx = r.cOffset + bt * r.cBatchStride + m * r.ldc + n;
        if (r.accumulate) v += out[idx];
        out[idx] = v;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/**
 * Kernel variant: "tile64" (64×64 tile, 4×4 per thread) or "tile128" (128×128 tile, 8×8 per thread,
 * register prefetch). Both compute the same function; the choice is only about speed.
 */
export type GemmVariant = "tile64" | "tile128";

/**
 * The variant {@link prepareGemm} uses by default. On a GPU: tile128 when the 128×128 tiles alone give
 * at least 256 workgroups (enough to fill a large GPU, e.g. the ViT-S/8 GEMMs with M = 25,120 and 4096³),
 * tile64 for smaller problems, where the bigger tile would leave most of the GPU idle. On a software
 * adapter (a few CPU threads, nothing to fill) tile128 whenever M and N are both ≥ 128, so padding wastes
 * under half the work: it measured 1.1–2.4× faster there (BENCHMARKS.md).
 */
export function chooseGemmVariant(shape: GemmShape, software = false): GemmVariant {
  if (software) return shape.M >= 128 && shape.N >= 128 ? "tile128" : "tile64";
  const tiles = Math.ceil(shape.M / 128) * Math.ceil(shape.N / 128) * (shape.batch ?? 1);
  return tiles >= 256 ? "tile128" : "tile64";
}

/** The access lines for one operand exactly as gemm.wgsl has them (f32, scalar). */
function accessLines(name: "A" | "B", dt: "f32" | "f16", vec: boolean): string {
  const binding = name === "A" ? 0 : 1;
  const at = name.toLowerCase();
  const elem = vec ? `vec4<${dt}>` : dt;
  const scalar = vec ? `f32(${name}[i >> 2u][i & 3u])` : `f32(${name}[i])`;
  const wide = vec
    ? `vec4<f32>(${name}[i >> 2u])`
    : `vec4<f32>(f32(${name}[i]), f32(${name}[i + 1u]), f32(${name}[i + 2u]), f32(${name}[i + 3u]))`;
  return [
    `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${elem}>;`,
    `fn ${at}_at(i: u32) -> f32 { return ${scalar}; }`,
    `fn ${at}4_at(i: u32) -> vec4<f32> { return ${wide}; }`,
  ].join("\n");
}

/**
 * The shader for the given storage of A and B: f32 or f16 (half the bytes read; needs the adapter's
 * `shader-f16`, {@link Gpu.hasF16}), scalar or vec4 (16-byte loads, main128 only, 4-aligned rows). It is
 * gemm.wgsl with the A/B access lines regenerated (same line count, and `enable f16;` prepended on line
 * 1, so compile errors keep their line numbers); tiles, accumulation and epilogue stay f32. C may be
 * f16 too (its alias line; the epilogue's result rounded once when stored).
 */
function gemmSource(
  gpu: Gpu,
  a: DType,
  b: DType,
  c: DType,
  vecA: boolean,
  vecB: boolean,
  compactEpilogue = false,
): { source: string; variant?: string } {
  if (compactEpilogue) {
    const r = gemmSource(gpu, a, b, c, vecA, vecB);
    return { source: blankUnrolledEpilogue(r.source), variant: `${r.variant ?? "f32"}, compact epilogue` };
  }
  for (const [name, dt] of [["A", a], ["B", b]] as const) {
    if (dt !== "f32" && dt !== "f16") throw new TypeError(`gemm: ${name} must be f32 or f16, got ${dt}`);
  }
  if (c !== "f32" && c !== "f16") throw new TypeError(`gemm: C must be f32 or f16, got ${c}`);
  if (a === "f32" && b === "f32" && c === "f32" && !vecA && !vecB) return { source };
  const half = a === "f16" || b === "f16" || c === "f16";
  if (half && !gpu.hasF16) {
    throw new TypeError(
      `gemm: f16 A/B/C need the shader-f16 feature, which adapter "${gpu.description}" lacks`,
    );
  }
  // C's storage through its alias line (withStorageTypes puts `enable f16;` in front when C is f16).
  let s = withStorageTypes("gemm", source, { CT: c }, gpu.hasF16).source;
  if (half && c !== "f16") s = "enable f16; " + s;
  for (const [name, dt, vec] of [["A", a, vecA], ["B", b, vecB]] as const) {
    const plain = accessLines(name, "f32", false);
    if (!s.includes(plain)) {
      throw new Error(`gemm: shaders/kernels/gemm.wgsl no longer has the ${name} access lines`);
    }
    s = s.replace(plain, accessLines(name, dt as "f32" | "f16", vec));
  }
  const tag = (dt: DType, vec: boolean) => `${dt}${vec ? " vec4" : ""}`;
  return { variant: `A ${tag(a, vecA)}, B ${tag(b, vecB)}${c === "f16" ? ", C f16" : ""}`, source: s };
}

/** gemm.wgsl with the unrolled epilogue's lines emptied (same line count), for UNROLL_EPILOGUE false. */
function blankUnrolledEpilogue(src: string): string {
  const lines = src.split("\n");
  const begin = lines.findIndex((l) => l.includes("unrolled-epilogue-begin"));
  const end = lines.findIndex((l) => l.includes("unrolled-epilogue-end"));
  if (begin < 0 || end < begin) {
    throw new Error("gemm: shaders/kernels/gemm.wgsl lost its unrolled-epilogue markers");
  }
  for (let i = begin + 1; i < end; i++) lines[i] = "";
  return lines.join("\n");
}

/** Tensors of one GEMM. `bias` is [N]; `residual` is laid out as described by `shape.residual`. */
export interface GemmTensors {
  a: GpuTensor;
  b: GpuTensor;
  c: GpuTensor;
  bias?: GpuTensor;
  residual?: GpuTensor;
}

/**
 * Compiles (cached) and binds one GEMM; returns a dispatch to record every step. The uniform is written
 * once here and owned by `arena`. Shapes are checked against the tensors' sizes. `options.variant`
 * forces a kernel variant (tests run every variant); the default is {@link chooseGemmVariant}. tile128
 * reads A and/or B with 16-byte loads when their rows are 4-aligned, unless `options.vec4` is false.
 * `options.unrolledEpilogue` picks tile128's epilogue form (default: unrolled on a GPU, the compact loop on
 * a software adapter, where the unrolled form's compile costs 4–8× more; both compute the same bits).
 */
export async function prepareGemm(
  gpu: Gpu,
  arena: BufferArena,
  shape: GemmShape,
  t: GemmTensors,
  options: { variant?: GemmVariant; vec4?: boolean; unrolledEpilogue?: boolean } = {},
): Promise<Dispatch> {
  const r = resolve(shape);
  if (r.M <= 0 || r.N <= 0 || r.K <= 0) throw new TypeError(`gemm: empty shape M=${r.M} N=${r.N} K=${r.K}`);
  const lastA = r.aOffset + (r.batch - 1) * r.aBatchStride +
    (r.transA ? (r.K - 1) * r.lda + r.M : (r.M - 1) * r.lda + r.K);
  const lastB = r.bOffset + (r.batch - 1) * r.bBatchStride +
    (r.transB ? (r.N - 1) * r.ldb + r.K : (r.K - 1) * r.ldb + r.N);
  const lastC = r.cOffset + (r.batch - 1) * r.cBatchStride + (r.M - 1) * r.ldc + r.N;
  checkExtent("gemm", "A", t.a, lastA);
  checkExtent("gemm", "B", t.b, lastB);
  checkExtent("gemm", "C", t.c, lastC);
  if (t.bias) checkExtent("gemm", "bias", t.bias, r.N);
  if (r.hasResidual !== (t.residual !== undefined)) {
    throw new TypeError("gemm: shape.residual and tensors.residual must be given together");
  }
  if (t.residual) {
    checkExtent(
      "gemm",
      "residual",
      t.residual,
      r.rOffset + (r.batch - 1) * r.rBatchStride + (r.M - 1) * r.ldr + r.N,
    );
  }
  const variant = options.variant ?? chooseGemmVariant(shape, gpu.isSoftware);
  const tile = variant === "tile128" ? 128 : 64;
  // 4-wide loads need every run of 4 elements along the contiguous dimension to start 4-aligned.
  const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  const wide = variant === "tile128" && (options.vec4 ?? true);
  const vecA = wide && aligned(r.transA ? r.M : r.K, r.lda, r.aOffset, r.batch > 1 ? r.aBatchStride : 0);
  const vecB = wide && aligned(r.transB ? r.K : r.N, r.ldb, r.bOffset, r.batch > 1 ? r.bBatchStride : 0);
  const unrolled = options.unrolledEpilogue ?? !gpu.isSoftware;
  const kernel = await getKernel(gpu, {
    file: "kernels/gemm.wgsl",
    ...gemmSource(gpu, t.a.dtype, t.b.dtype, t.c.dtype, vecA, vecB, variant === "tile128" && !unrolled),
    entryPoint: variant === "tile128" ? "main128" : "main",
    bindings: ["read", "read", "rw", "read", "read", "uniform"],
    constants: {
      TRANS_A: r.transA ? 1 : 0,
      TRANS_B: r.transB ? 1 : 0,
      ACT: r.act === "relu" ? 1 : r.act === "gelu" ? 2 : 0,
      HAS_BIAS: t.bias ? 1 : 0,
      HAS_RESIDUAL: t.residual ? 1 : 0,
      ACCUMULATE: r.accumulate ? 1 : 0,
      VEC_A: vecA ? 1 : 0,
      VEC_B: vecB ? 1 : 0,
      ...(variant === "tile128" ? { UNROLL_EPILOGUE: unrolled ? 1 : 0 } : {}),
    },
  });
  const uniform = arena.uniform(
    packUniform([
      [r.M, "u32"],
      [r.N, "u32"],
      [r.K, "u32"],
      [r.lda, "u32"],
      [r.ldb, "u32"],
      [r.ldc, "u32"],
      [r.ldr, "u32"],
      [r.aOffset, "u32"],
      [r.bOffset, "u32"],
      [r.cOffset, "u32"],
      [r.rOffset, "u32"],
      [r.aBatchStride, "u32"],
      [r.bBatchStride, "u32"],
      [r.cBatchStride, "u32"],
      [r.rBatchStride, "u32"],
      [r.alpha, "f32"],
    ]),
    "gemm-params",
  );
  const dummy = arena.dummy();
  const bg = bindGroup(gpu, kernel, [t.a, t.b, t.c, t.bias ?? dummy, t.residual ?? dummy, uniform]);
  if (r.batch > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new RangeError(`gemm: batch ${r.batch} too large`);
  }
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (Math.ceil(r.M / tile) > maxDim || Math.ceil(r.N / tile) > maxDim) {
    throw new RangeError(`gemm: ${r.M}×${r.N} needs more than ${maxDim} tiles per dimension`);
  }
  return { kernel, bindGroup: bg, workgroups: [Math.ceil(r.N / tile), Math.ceil(r.M / tile), r.batch] };
}

/** FLOPs of one GEMM (2·M·N·K per batch). */
export function gemmFlops(shape: GemmShape): number {
  return 2 * shape.M * shape.N * shape.K * (shape.batch ?? 1);
}

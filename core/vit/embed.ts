/**
 * ViT input kernels (dino-backbone.md §1.2 steps 1–2): im2col of image patches for the patch-embedding
 * GEMM (shaders/vit/embed.wgsl), and the CLS rows of the token matrix (the library's elementwise copy with
 * a broadcast source row). CPU references included.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d, type Kernel } from "../gpu/pipelines.ts";
import { prepareElementwise } from "../kernels/elementwise.ts";
import source from "../../shaders/vit/embed.wgsl" with { type: "text" };

/** Geometry of one patchify: `images` images of 3×H×W starting at image `first`, patch size p. */
export interface PatchifyShape {
  images: number;
  first?: number;
  height: number;
  width: number;
  patch: number;
}

function dims(s: PatchifyShape) {
  const gh = Math.floor(s.height / s.patch), gw = Math.floor(s.width / s.patch);
  return { gh, gw, n: gh * gw, K: 3 * s.patch * s.patch };
}

/**
 * CPU reference: patches [images·n, 3p²] in (channel, ky, kx) order, patch t = r·gw + c.
 * `img` is [B, 3, H, W] flat.
 */
export function patchifyRef(s: PatchifyShape, img: ArrayLike<number>): Float64Array {
  const { gw, n, K } = dims(s);
  const { height: H, width: W, patch: p } = s;
  const out = new Float64Array(s.images * n * K);
  const first = s.first ?? 0;
  for (let b = 0; b < s.images; b++) {
    for (let t = 0; t < n; t++) {
      const r = Math.floor(t / gw), c = t % gw;
      for (let ch = 0; ch < 3; ch++) {
        for (let ky = 0; ky < p; ky++) {
          for (let kx = 0; kx < p; kx++) {
            out[(b * n + t) * K + ch * p * p + ky * p + kx] =
              img[((first + b) * 3 + ch) * H * W + (r * p + ky) * W + c * p + kx];
          }
        }
      }
    }
  }
  return out;
}

/** A compiled patchify whose bind group is made when the image tensor is known (it may change per call). */
export interface PatchifyPlan {
  kernel: Kernel;
  uniform: GPUBuffer;
  workgroups: [number, number, number];
  /** Makes the dispatch reading `images` [B,3,H,W] and writing `patches` [images·n, 3p²]. */
  bind(images: GpuTensor, patches: GpuTensor): Dispatch;
}

/** Compiles (cached) a patchify for `s`; binding happens in {@link PatchifyPlan.bind}. */
export async function preparePatchify(gpu: Gpu, arena: BufferArena, s: PatchifyShape): Promise<PatchifyPlan> {
  const { gw, n, K } = dims(s);
  if (n === 0) {
    throw new TypeError(`patchify: ${s.height}×${s.width} is smaller than one ${s.patch}-pixel patch`);
  }
  const count = s.images * n * K;
  const kernel = await getKernel(gpu, {
    file: "vit/embed.wgsl",
    source,
    entryPoint: "patchify",
    bindings: ["read", "rw", "uniform"],
  });
  const imgOff = (s.first ?? 0) * 3 * s.height * s.width;
  const uniform = arena.uniform(
    packUniform([
      [count, "u32"],
      [s.height, "u32"],
      [s.width, "u32"],
      [s.patch, "u32"],
      [gw, "u32"],
      [n, "u32"],
      [K, "u32"],
      [imgOff, "u32"],
    ]),
    "patchify-params",
  );
  const workgroups = grid1d(Math.ceil(count / 256), gpu.limits.maxComputeWorkgroupsPerDimension);
  return {
    kernel,
    uniform,
    workgroups,
    bind(images, patches) {
      const need = imgOff + s.images * 3 * s.height * s.width;
      if (images.size < need) {
        throw new TypeError(`patchify: images "${images.label}" has ${images.size} elements, needs ${need}`);
      }
      if (patches.size < count) {
        throw new TypeError(
          `patchify: patches "${patches.label}" has ${patches.size} elements, needs ${count}`,
        );
      }
      return { kernel, bindGroup: bindGroup(gpu, kernel, [images, patches, uniform]), workgroups };
    },
  };
}

/**
 * Writes `clsPos` [rows, C] into the first `rows` rows (default 1) of each of `images` token blocks of
 * X [images·N, C]: CLS + its position, then (DINOv2) the register tokens.
 */
export async function prepareClsRows(
  gpu: Gpu,
  arena: BufferArena,
  s: { images: number; tokens: number; dim: number; rows?: number },
  t: { clsPos: GpuTensor; x: GpuTensor },
): Promise<Dispatch> {
  const rows = s.rows ?? 1;
  if (!Number.isInteger(rows) || rows < 1 || rows > s.tokens) {
    throw new TypeError(`cls_rows: rows must be an integer in [1, ${s.tokens}], got ${rows}`);
  }
  if (t.clsPos.size < rows * s.dim) {
    throw new TypeError(`cls_rows: clsPos has ${t.clsPos.size} elements, needs ${rows * s.dim}`);
  }
  if (t.x.size < s.images * s.tokens * s.dim) {
    throw new TypeError(
      `cls_rows: x "${t.x.label}" has ${t.x.size} elements, needs ${s.images * s.tokens * s.dim}`,
    );
  }
  // X[b·N·C + c] = clsPos[c] for c < rows·C: a copy whose source row stride is 0.
  return await prepareElementwise(gpu, arena, {
    op: "copy",
    rows: s.images,
    cols: rows * s.dim,
    x: { ld: 0 },
    out: { ld: s.tokens * s.dim },
  }, { x: t.clsPos, out: t.x });
}

/**
 * The sparse path of {@link HpLoss} (hp-method.md §5.2–§5.4, §5.9): masks as bit-planes, then logits only
 * where the gradient can be non-zero, the random negatives grouped by grid position. Kernels:
 * shaders/model/loss_sparse_{urows,uscan,mask,fwd,bwd}.wgsl and loss_group_{fwd,bwd}.wgsl (which include
 * hash.wgsl, loss_common.wgsl and loss_sparse_common.wgsl / loss_group_common.wgsl from shaders/include/).
 *
 *   urows, uscan  U[r,·] as bits [P, W] + rank tables (ucsr)                  P·N hashes
 *   mask          P_ag, P_sp as bit-planes [N, W] on 128×128 register tiles   N²·(Df + D) FLOPs (one chunk,
 *                 upper-triangle tiles, symmetric), 2·N²·(Df + D) when the planes are chunked
 *   forward       group: per r, the B anchors × U_r as dense tiles            4·ρ·N²·D
 *                 positives: per row, j ∈ P_i \ U_{r_i} (gathered)            4·D·Σ|P_i \ U|
 *   backward×2    group: per r, G tile → anchor side into dy, contrast side   6·ρ·N²·D
 *                 into per-r partial slots; owner: positives + the partials   4·D·Σ|P_i| + D·ρ·P·N reads
 *                 of every r with U[r, i] = 1, in r order (deterministic)
 * At COCO size (N = 50,176, ρ = 0.02, D = 512) the grouped tiles are ≈ 0.26 TFLOP in all and read each
 * row of U_r once per 64 anchors instead of once per anchor; the N² mask dots (2.25 TFLOP in f32) dominate.
 * Planes take N²/4 bytes (630 MB at COCO size) and are split into row chunks that each fit the adapter's
 * storage-binding limit; every kernel reads only the bits of its chunk's rows (a chunk is self-contained:
 * the group kernels take the chunk's anchors, the owner kernel adds each chunk's partials in chunk order).
 * The contrast partials take cap·⌈B/64⌉·D floats: cap = Σ_r |U_r| with a 10σ margin (1.6 GB at COCO size),
 * capped by the binding limit; pairs past cap are recomputed by their owner (exact, only slower).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import urowsSrc from "../../shaders/model/loss_sparse_urows.wgsl" with { type: "text" };
import uscanSrc from "../../shaders/model/loss_sparse_uscan.wgsl" with { type: "text" };
import maskSrc from "../../shaders/model/loss_sparse_mask.wgsl" with { type: "text" };
import fwdSrc from "../../shaders/model/loss_sparse_fwd.wgsl" with { type: "text" };
import bwdSrc from "../../shaders/model/loss_sparse_bwd.wgsl" with { type: "text" };
import groupFwdSrc from "../../shaders/model/loss_sparse_group_fwd.wgsl" with { type: "text" };
import groupBwdSrc from "../../shaders/model/loss_sparse_group_bwd.wgsl" with { type: "text" };

/** Candidate-list capacity of a round (shaders/include/loss_sparse_common.wgsl CAP): B may not exceed it. */
export const SPARSE_MAX_B = 2048;

/** Rows per bit-plane chunk: the largest multiple of 128 (the mask tile) whose [rows, W] u32 plane fits. */
export function sparseChunkRows(N: number, limitBytes: number, maxRows = Infinity): number {
  const W = Math.ceil(N / 32);
  let rows = Math.floor(limitBytes / (W * 4));
  rows = Math.min(rows, maxRows, N);
  if (rows < N && rows >= 128) rows -= rows % 128; // all N rows in one chunk need no rounding

  return Math.max(1, rows);
}

/**
 * Slots of the contrast-partials buffer per 64-anchor tile: Σ_r |U_r| ~ Binomial(P·N, ρ) plus 10 standard
 * deviations (exceeded with probability < 1e-15 by Chernoff), never more than P·N, nor more than the
 * binding limit allows. Overflowing pairs are still exact (recomputed by their owner).
 */
export function partialSlots(P: number, N: number, D: number, B: number, rho: number, limitBytes: number) {
  const mean = rho * P * N;
  const stat = Math.ceil(mean + 10 * Math.sqrt(mean) + 64);
  const byLimit = Math.floor(limitBytes / (Math.ceil(B / 64) * D * 4));
  return Math.max(1, Math.min(stat, P * N, byLimit));
}

/**
 * The "f16" variant of a mask-input kernel (hp.mask_precision = f16): the named `read` storage arrays become
 * `array<f16>` (loads are written `f32(…)`, so the dots still accumulate in f32), and `enable f16;` goes in
 * front of the first line (line numbers of compile errors stay right).
 */
export function f16Variant(source: string, names: string[]): string {
  let s = source;
  for (const n of names) {
    const decl = `var<storage, read> ${n}: array<f32>;`;
    if (!s.includes(decl)) throw new Error(`f16Variant: no "${decl}" in the shader`);
    s = s.replace(decl, `var<storage, read> ${n}: array<f16>;`);
  }
  return "enable f16; " + s;
}

/** A step of the loss: a dispatch, or a buffer to zero (the backward accumulates into dy). */
export type LossStep = Dispatch | { clear: GpuTensor };

/** What the sparse path needs from HpLoss.create. */
export interface SparseSetup {
  N: number;
  P: number;
  B: number;
  D: number;
  rho: number;
  inputs: { fhat: GpuTensor; shat: GpuTensor; z: GpuTensor; zt: GpuTensor };
  aux: GpuTensor;
  dz: GpuTensor;
  dzt: GpuTensor;
  uniform: GPUBuffer;
  /** Cap on rows per chunk (tests force several chunks). */
  maxChunkRows?: number;
  /** Cap on contrast-partial slots (tests force the owner's recomputation of overflowing pairs). */
  maxPartialSlots?: number;
  /** f16 copies of f̂, ŝ̄ for the mask pass (hp.mask_precision = f16), else null. */
  half: { fhat: GpuTensor; shat: GpuTensor } | null;
}

/** Passes of the sparse path in order (before and after the loss reduction) and the buffers it allocated. */
export async function buildSparse(
  gpu: Gpu,
  arena: BufferArena,
  s: SparseSetup,
): Promise<
  {
    before: Array<[string, LossStep[]]>;
    after: Array<[string, LossStep[]]>;
    owned: GpuTensor[];
    planes: GpuTensor[];
  }
> {
  const { N, P, B, D } = s;
  const W = Math.ceil(N / 32);
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const rowsPer = sparseChunkRows(N, limit, s.maxChunkRows);
  const single = rowsPer >= N;
  const tiles = Math.ceil(B / 64);
  const cap = Math.min(partialSlots(P, N, D, B, s.rho, limit), s.maxPartialSlots ?? Infinity);
  // Anchor-tile height of the grouped kernels: 4·ROWQ rows (64 for the COCO batch, fewer for small ones).
  const ROWQ = Math.min(16, Math.ceil(B / 4));
  const K = (
    file: string,
    source: string,
    bindings: Array<"read" | "rw" | "uniform">,
    entryPoint?: string,
    constants?: Record<string, number>,
  ) => getKernel(gpu, { file: `model/${file}`, source, bindings, entryPoint, constants });
  const R = "read", RW = "rw", U = "uniform";
  const [urows, uscan, mask, gfwd, fwd, gbwd, bwdK] = await Promise.all([
    K("loss_sparse_urows.wgsl", urowsSrc, [RW, U]),
    K("loss_sparse_uscan.wgsl", uscanSrc, [RW, U]),
    getKernel(gpu, {
      file: "model/loss_sparse_mask.wgsl",
      source: s.half ? f16Variant(maskSrc, ["fhat", "shat"]) : maskSrc,
      variant: s.half ? "f16" : undefined,
      bindings: [R, R, R, RW, RW, U, U],
      entryPoint: single ? "main_sym" : "main",
    }),
    K("loss_sparse_group_fwd.wgsl", groupFwdSrc, [R, R, R, R, R, RW, U, U], undefined, { ROWQ }),
    K("loss_sparse_fwd.wgsl", fwdSrc, [R, R, R, R, R, RW, U, U, R]),
    K("loss_sparse_group_bwd.wgsl", groupBwdSrc, [R, R, R, R, R, RW, RW, U, U], undefined, { ROWQ }),
    K("loss_sparse_bwd.wgsl", bwdSrc, [R, R, R, R, R, RW, U, U, R]),
  ]);
  const owned: GpuTensor[] = [];
  const own = (t: GpuTensor) => (owned.push(t), t);
  const Wp = Math.ceil(P / 32);
  const ucsr = own(arena.tensor([2 * P * W + 2 * P + N * Wp], "u32", "hp.u-csr"));
  const gpart = own(arena.tensor([N, 12], "f32", "hp.group-partials"));
  const part = own(arena.tensor([tiles * cap, D], "f32", "hp.contrast-partials"));
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const groupGrid = grid1d(P * Math.ceil(B / (4 * ROWQ)), maxWg); // = P·tiles
  const before: Array<[string, LossStep[]]> = [[
    "urows",
    [
      {
        kernel: urows,
        bindGroup: bindGroup(gpu, urows, [ucsr, s.uniform]),
        workgroups: grid1d(P + Math.ceil((N * Wp) / 256), maxWg),
      },
      { kernel: uscan, bindGroup: bindGroup(gpu, uscan, [ucsr, s.uniform]), workgroups: [1, 1, 1] },
    ],
  ]];
  const masks: LossStep[] = [];
  before.push(["mask", masks]);
  const after: Array<[string, LossStep[]]> = [];
  const bwd: Record<string, Array<[string, LossStep[]]>> = {
    z: [["backward-z-clear", [{ clear: s.dz }]]],
    zt: [["backward-zt-clear", [{ clear: s.dzt }]]],
  };
  const { z, zt } = s.inputs;
  const planes: GpuTensor[] = [];
  for (let row0 = 0; row0 < N; row0 += rowsPer) {
    const rows = Math.min(rowsPer, N - row0);
    const at = single ? "" : `@${row0}`;
    const ag = own(arena.tensor([rows, W], "u32", `hp.ag-bits@${row0}`));
    const sp = own(arena.tensor([rows, W], "u32", `hp.sp-bits@${row0}`));
    const chunk = (which: number) =>
      arena.uniform(packUniform([[which, "u32"], [row0, "u32"], [rows, "u32"], [cap, "u32"]]), "hp.chunk");
    const c0 = chunk(0), c1 = chunk(1);
    planes.push(ag, sp);
    const mIn = s.half ?? s.inputs;
    masks.push({
      kernel: mask,
      bindGroup: bindGroup(gpu, mask, [mIn.fhat, mIn.shat, s.aux, ag, sp, s.uniform, c0]),
      workgroups: single
        ? grid1d((Math.ceil(N / 128) * (Math.ceil(N / 128) + 1)) / 2, maxWg)
        : grid1d(Math.ceil(rows / 128) * Math.ceil(N / 128), maxWg),
    });
    before.push(
      [`forward-group${at}`, [{
        kernel: gfwd,
        bindGroup: bindGroup(gpu, gfwd, [z, zt, ag, sp, ucsr, gpart, s.uniform, c0]),
        workgroups: groupGrid,
      }]],
      [`forward-rows${at}`, [{
        kernel: fwd,
        bindGroup: bindGroup(gpu, fwd, [z, zt, ag, sp, ucsr, s.aux, s.uniform, c0, gpart]),
        workgroups: grid1d(rows, maxWg),
      }]],
    );
    for (const [name, y, dy, c] of [["z", z, s.dz, c0], ["zt", zt, s.dzt, c1]] as const) {
      bwd[name].push(
        [`backward-${name}-group${at}`, [{
          kernel: gbwd,
          bindGroup: bindGroup(gpu, gbwd, [y, ag, sp, ucsr, s.aux, dy, part, s.uniform, c]),
          workgroups: groupGrid,
        }]],
        [`backward-${name}-owner${at}`, [{
          kernel: bwdK,
          bindGroup: bindGroup(gpu, bwdK, [y, ag, sp, ucsr, s.aux, dy, s.uniform, c, part]),
          workgroups: grid1d(N, maxWg),
        }]],
      );
    }
  }
  after.push(...bwd.z, ...bwd.zt);
  return { before, after, owned, planes };
}

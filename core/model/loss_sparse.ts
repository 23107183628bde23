/**
 * The sparse path of {@link HpLoss} (hp-method.md §5.2–§5.4, §5.9): masks as bit-planes, then logits only
 * where the gradient can be non-zero. Kernels: shaders/model/loss_sparse_{urows,mask,fwd,bwd}.wgsl (which
 * include hash.wgsl, loss_common.wgsl and, for the last two, loss_sparse_common.wgsl from shaders/include/).
 *
 *   urows      U[r,·] as bits [P, W]                                          P·N hashes
 *   mask       P_ag, P_sp as bit-planes [N, W] (dense dots, only comparisons)  N²·(Df + D) FLOPs with one
 *              chunk (upper-triangle tiles, symmetric), 2·N²·(Df + D) when the planes are chunked
 *   forward    per row: logits for j ∈ A_i = P_ag ∪ P_sp ∪ U[r_i,·] only       4·D·Σ|A_i|
 *   backward×2 per row: A_i, plus the anchors j whose U row contains i        ≈ 4·D·Σ(|A_i| + ρPB)
 * At COCO size (N = 50,176, ρ = 0.02, |A_i| ≈ 1,004 + |P_i|) the logit work is ≈ 0.1–0.3 TFLOP instead of
 * ≈ 20 TFLOP: the N² mask dots (2.25 TFLOP in f32 with one chunk, as on an H100's 2 GiB binding
 * limit) dominate. Planes take N²/4 bytes (630 MB at COCO size)
 * and are split into row chunks that each fit the adapter's storage-binding limit; every sparse kernel
 * reads only its own rows' bits, so a chunk is self-contained.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import urowsSrc from "../../shaders/model/loss_sparse_urows.wgsl" with { type: "text" };
import maskSrc from "../../shaders/model/loss_sparse_mask.wgsl" with { type: "text" };
import fwdSrc from "../../shaders/model/loss_sparse_fwd.wgsl" with { type: "text" };
import bwdSrc from "../../shaders/model/loss_sparse_bwd.wgsl" with { type: "text" };

/** Candidate-list capacity of a round (shaders/include/loss_sparse_common.wgsl CAP): B may not exceed it. */
export const SPARSE_MAX_B = 2048;

/** Rows per bit-plane chunk: the largest multiple of 128 (the mask tile) whose [rows, W] u32 plane fits `limitBytes`. */
export function sparseChunkRows(N: number, limitBytes: number, maxRows = Infinity): number {
  const W = Math.ceil(N / 32);
  let rows = Math.floor(limitBytes / (W * 4));
  rows = Math.min(rows, maxRows, N);
  if (rows >= 128) rows -= rows % 128;
  return Math.max(1, rows);
}

/** What the sparse path needs from HpLoss.create. */
export interface SparseSetup {
  N: number;
  P: number;
  inputs: { fhat: GpuTensor; shat: GpuTensor; z: GpuTensor; zt: GpuTensor };
  aux: GpuTensor;
  dz: GpuTensor;
  dzt: GpuTensor;
  uniform: GPUBuffer;
  /** Cap on rows per chunk (tests force several chunks). */
  maxChunkRows?: number;
}

/** Dispatch groups of the sparse path (in order) and the buffers it allocated. */
export async function buildSparse(
  gpu: Gpu,
  arena: BufferArena,
  s: SparseSetup,
): Promise<{ groups: Record<string, Dispatch[]>; owned: GpuTensor[] }> {
  const { N, P } = s;
  const W = Math.ceil(N / 32);
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const rowsPer = sparseChunkRows(N, limit, s.maxChunkRows);
  const single = rowsPer >= N;
  const [urows, mask, fwd, bwd] = await Promise.all([
    getKernel(gpu, { file: "model/loss_sparse_urows.wgsl", source: urowsSrc, bindings: ["rw", "uniform"] }),
    getKernel(gpu, {
      file: "model/loss_sparse_mask.wgsl",
      source: maskSrc,
      entryPoint: single ? "main_sym" : "main",
      bindings: ["read", "read", "read", "rw", "rw", "uniform", "uniform"],
    }),
    getKernel(gpu, {
      file: "model/loss_sparse_fwd.wgsl",
      source: fwdSrc,
      bindings: ["read", "read", "read", "read", "read", "rw", "uniform", "uniform"],
    }),
    getKernel(gpu, {
      file: "model/loss_sparse_bwd.wgsl",
      source: bwdSrc,
      bindings: ["read", "read", "read", "read", "read", "rw", "uniform", "uniform"],
    }),
  ]);
  const owned: GpuTensor[] = [];
  const uBits = arena.tensor([P, W], "u32", "hp.u-bits");
  owned.push(uBits);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const groups: Record<string, Dispatch[]> = {
    urows: [{
      kernel: urows,
      bindGroup: bindGroup(gpu, urows, [uBits, s.uniform]),
      workgroups: grid1d(Math.ceil((P * W) / 256), maxWg),
    }],
    mask: [],
    forward: [],
    "backward-z": [],
    "backward-zt": [],
  };
  for (let row0 = 0; row0 < N; row0 += rowsPer) {
    const rows = Math.min(rowsPer, N - row0);
    const ag = arena.tensor([rows, W], "u32", `hp.ag-bits@${row0}`);
    const sp = arena.tensor([rows, W], "u32", `hp.sp-bits@${row0}`);
    owned.push(ag, sp);
    const chunk = (which: number) =>
      arena.uniform(packUniform([[which, "u32"], [row0, "u32"], [rows, "u32"], [0, "u32"]]), "hp.chunk");
    const c0 = chunk(0);
    groups.mask.push({
      kernel: mask,
      bindGroup: bindGroup(gpu, mask, [s.inputs.fhat, s.inputs.shat, s.aux, ag, sp, s.uniform, c0]),
      workgroups: single
        ? grid1d((Math.ceil(N / 128) * (Math.ceil(N / 128) + 1)) / 2, maxWg)
        : grid1d(Math.ceil(rows / 128) * Math.ceil(N / 128), maxWg),
    });
    groups.forward.push({
      kernel: fwd,
      bindGroup: bindGroup(gpu, fwd, [s.inputs.z, s.inputs.zt, ag, sp, uBits, s.aux, s.uniform, c0]),
      workgroups: grid1d(rows, maxWg),
    });
    groups["backward-z"].push({
      kernel: bwd,
      bindGroup: bindGroup(gpu, bwd, [s.inputs.z, ag, sp, uBits, s.aux, s.dz, s.uniform, c0]),
      workgroups: grid1d(rows, maxWg),
    });
    groups["backward-zt"].push({
      kernel: bwd,
      bindGroup: bindGroup(gpu, bwd, [s.inputs.zt, ag, sp, uBits, s.aux, s.dzt, s.uniform, chunk(1)]),
      workgroups: grid1d(rows, maxWg),
    });
  }
  return { groups, owned };
}

/**
 * Reference pools (hp-method.md §4): task-agnostic Pool_ag [K, D_f] built once before training and
 * task-specific Pool_sp [K, D] rebuilt from the EMA head ξ every `renew_interval` batches.
 *
 * Construction: the trainer runs ⌈K/B⌉ batches of a separate shuffled loader (clean crops) through the
 * backbone and calls `addBatch` after each, which gathers ONE uniformly random patch per image (independent
 * positions for Pool_ag and Pool_sp) from the batch's features. `finish` then applies, on the K gathered
 * rows only (the head is per patch, so heading the whole map and picking one patch is the same):
 *   Pool_ag row = normalize(Dropout2d(F_patch))                                  (the "returned feats" draw)
 *   Pool_sp row = normalize(Dropout2d(ξ-linear(drop(F_patch)) + ξ-MLP(drop(F_patch))))   (EMA mode, §2.6)
 * Dropout is active (train mode) and ξ is not updated. Each gathered row is its own image for the masks
 * (P = 1), so every image draws its own channels. Positions and the four seeds come from the Rng given to
 * `begin`, in the order: ag positions (when building ag), sp positions, ag seed (when building ag),
 * ξ seeds a, b, out. Kernels: the library row gather (core/kernels/gather.ts) plus the head, dropout and
 * l2norm kernels.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32 } from "../gpu/readback.ts";
import { checkDims, checkExtent } from "../kernels/common.ts";
import { prepareGatherRows } from "../kernels/gather.ts";
import type { Rng } from "../rng.ts";
import { type Dropout2d, dropout2dRef, prepareDropout2d } from "../kernels/dropout.ts";
import { type HeadForward, headForwardRef, type HeadSeeds, prepareHeadForward } from "./heads.ts";
import { l2normalizeRef, prepareL2Normalize } from "../kernels/l2norm.ts";

/** Sizes of the pools and of the batches they are built from. */
export interface PoolDims {
  /** Pool size K. */
  K: number;
  /** Images per batch B. */
  B: number;
  /** Patches per image P = S². */
  P: number;
  Df: number;
  D: number;
  /** Probability of the pools' Dropout2d draws (config head.dropout; default DROPOUT_P). */
  dropout?: number;
}

/** Batches needed for K rows (one patch per image): ⌈K / B⌉; the last one may be used partly. */
export function poolBatches(K: number, B: number): number {
  return Math.ceil(K / B);
}

/** Renewal schedule (§4): renew before batch `i` of an epoch iff i mod interval == 0 and i ≠ 0. */
export function shouldRenewPool(batchInEpoch: number, renewInterval: number): boolean {
  return batchInEpoch !== 0 && batchInEpoch % renewInterval === 0;
}

/** What `begin` drew: per-row patch positions (0 ≤ pos < P) and the dropout seeds. */
export interface PoolDraw {
  posAg: number[] | null;
  posSp: number[];
  seedAg: number | null;
  ema: HeadSeeds;
}

/** Draws positions and seeds from `rng` in the documented order. */
export function drawPool(rng: Rng, dims: PoolDims, buildAg: boolean): PoolDraw {
  const pos = () => Array.from({ length: dims.K }, () => rng.int(dims.P));
  const posAg = buildAg ? pos() : null;
  const posSp = pos();
  const seedAg = buildAg ? rng.nextU32() : null;
  const ema = { a: rng.nextU32(), b: rng.nextU32(), out: rng.nextU32() };
  return { posAg, posSp, seedAg, ema };
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/**
 * Reference pools from the batches' features (`batches[i]` is [B·P, D_f], rows b·P + y·S + x), the EMA
 * parameters `xi` (flat, headLayout) and a draw. Returns Pool_ag (null unless drawn) and Pool_sp.
 */
export function poolsRef(
  dims: PoolDims,
  batches: ArrayLike<number>[],
  xi: ArrayLike<number>,
  draw: PoolDraw,
): { ag: Float64Array | null; sp: Float64Array } {
  const { K, B, P, Df, D, dropout: p } = dims;
  const gather = (pos: number[]) => {
    const out = new Float64Array(K * Df);
    for (let j = 0; j < K; j++) {
      const f = batches[Math.floor(j / B)];
      const row = (j % B) * P + pos[j];
      for (let c = 0; c < Df; c++) out[j * Df + c] = f[row * Df + c];
    }
    return out;
  };
  let ag: Float64Array | null = null;
  if (draw.posAg) {
    ag = l2normalizeRef(K, Df, dropout2dRef({ rows: K, C: Df, P: 1, p }, draw.seedAg!, gather(draw.posAg))).z;
  }
  const code = headForwardRef({ rows: K, Df, D, P: 1, dropout: p }, xi, gather(draw.posSp), draw.ema).code;
  return { ag, sp: l2normalizeRef(K, D, code).z };
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

/** Builds Pool_ag (once) and Pool_sp (every renewal) on the GPU; see the module comment for the protocol. */
export class PoolBuilder {
  readonly #gathers = new Map<GpuTensor, Dispatch[][]>();
  #building: { ag: boolean; next: number } | null = null;

  /** @internal use {@link preparePoolBuilder} */
  constructor(
    readonly gpu: Gpu,
    readonly arena: BufferArena,
    readonly dims: PoolDims,
    /** Pool_ag [K, D_f], L2-normalised rows (also the gather target before its dropout). */
    readonly poolAg: GpuTensor,
    /** Pool_sp [K, D], L2-normalised rows. */
    readonly poolSp: GpuTensor,
    readonly t: {
      indices: GpuTensor;
      gatheredSp: GpuTensor;
      ema: HeadForward;
      dropAg: Dropout2d;
      finishAg: Dispatch[];
      finishSp: Dispatch[];
    },
  ) {}

  /** Every Dropout2d a build records: Pool_ag's, and the EMA head's (branch inputs and code). */
  dropouts(): Dropout2d[] {
    return [this.t.dropAg, ...this.t.ema.dropouts()];
  }

  /** Batches `addBatch` expects per build. */
  get batches(): number {
    return poolBatches(this.dims.K, this.dims.B);
  }

  /**
   * Starts a build: draws positions and seeds from `rng` and uploads them (before the next submit).
   * `buildAg` true at initialisation (both pools), false for a renewal (Pool_sp only).
   */
  begin(rng: Rng, buildAg: boolean): PoolDraw {
    const { K, B, P } = this.dims;
    const draw = drawPool(rng, this.dims, buildAg);
    const idx = new Int32Array(2 * K);
    for (let j = 0; j < K; j++) {
      idx[j] = (j % B) * P + (draw.posAg ? draw.posAg[j] : 0);
      idx[K + j] = (j % B) * P + draw.posSp[j];
    }
    this.t.indices.write(idx);
    if (buildAg) this.t.dropAg.setSeed(draw.seedAg!);
    this.t.ema.setSeeds(draw.ema);
    this.#building = { ag: buildAg, next: 0 };
    return draw;
  }

  /**
   * Records the gathers of batch `batchIndex` (0-based, in order) from `features` [B·P, D_f], the backbone
   * output of that batch of clean crops. `features` must have been bound (see {@link bind}).
   */
  addBatch(rec: StepRecorder, batchIndex: number, features: GpuTensor): void {
    const b = this.#building;
    if (!b) throw new Error("PoolBuilder.addBatch: call begin() first");
    if (batchIndex !== b.next || batchIndex >= this.batches) {
      throw new RangeError(
        `PoolBuilder.addBatch: expected batch ${b.next} of ${this.batches}, got ${batchIndex}`,
      );
    }
    const bound = this.#gathers.get(features);
    if (!bound) {
      throw new Error(`PoolBuilder.addBatch: features "${features.label}" not bound; await bind() first`);
    }
    const ds = bound[batchIndex];
    rec.dispatch(...(b.ag ? ds : ds.slice(1)));
    b.next++;
  }

  /** Records dropout, the EMA head and the row normalisation; the pools are ready after this submit. */
  finish(rec: StepRecorder): void {
    const b = this.#building;
    if (!b || b.next !== this.batches) {
      throw new Error(`PoolBuilder.finish: ${b?.next ?? 0} of ${this.batches} batches added`);
    }
    if (b.ag) rec.dispatch(...this.t.finishAg);
    this.t.ema.record(rec);
    rec.dispatch(...this.t.finishSp);
    this.#building = null;
  }

  /** Reads both pools back (outside a step) for a checkpoint: ag [K·D_f], sp [K·D]. */
  async readState(): Promise<{ ag: Float32Array; sp: Float32Array }> {
    return { ag: await readF32(this.gpu, this.poolAg), sp: await readF32(this.gpu, this.poolSp) };
  }

  /** Restores both pools (from a checkpoint). @throws TypeError on a size mismatch. */
  loadState(s: { ag: Float32Array; sp: Float32Array }): void {
    const { K, Df, D } = this.dims;
    if (s.ag.length !== K * Df || s.sp.length !== K * D) {
      throw new TypeError(`pool state has ${s.ag.length}/${s.sp.length} values, expected ${K * Df}/${K * D}`);
    }
    this.poolAg.write(s.ag);
    this.poolSp.write(s.sp);
  }

  /**
   * Prepares the gathers (row gathers of core/kernels/gather.ts, with their uniforms and bind groups) for
   * a features buffer; `addBatch` accepts only bound buffers. Binding the same buffer again is a no-op.
   */
  async bind(features: GpuTensor): Promise<void> {
    if (this.#gathers.has(features)) return;
    const { K, B, P, Df } = this.dims;
    checkExtent("pool gather", "features", features, B * P * Df);
    const ds: Dispatch[][] = [];
    for (let i = 0; i < this.batches; i++) {
      const n = Math.min(B, K - i * B);
      const one = (idxOffset: number, out: GpuTensor) =>
        prepareGatherRows(this.gpu, this.arena, {
          n,
          cols: Df,
          indexedRows: B * P,
          idxOffset,
          outOffset: i * B * Df,
        }, {
          src: features,
          idx: this.t.indices,
          out,
        });
      ds.push([await one(i * B, this.poolAg), await one(K + i * B, this.t.gatheredSp)]);
    }
    this.#gathers.set(features, ds);
  }
}

/**
 * Prepares a pool builder reading ξ from `xi` (flat, headLayout(D_f, D)). Allocates the pools and K-row
 * scratch (gathered rows, the head's hidden and dropout scratch); `features` (the backbone's output buffer
 * of one batch) is bound now when given.
 */
export async function preparePoolBuilder(
  gpu: Gpu,
  arena: BufferArena,
  dims: PoolDims,
  xi: GpuTensor,
  features?: GpuTensor,
): Promise<PoolBuilder> {
  const { K, B, P, Df, D, dropout } = dims;
  checkDims("pools", { K, B, P, Df, D });
  const poolAg = arena.tensor([K, Df], "f32", "pool-ag");
  const poolSp = arena.tensor([K, D], "f32", "pool-sp");
  const indices = arena.tensor([2 * K], "i32", "pool-indices");
  const gatheredSp = arena.tensor([K, Df], "f32", "pool-gathered-sp");
  const scratch = arena.tensor([K, Df], "f32", "pool-scratch");
  const ema = await prepareHeadForward(gpu, arena, { rows: K, Df, D, P: 1, dropout }, "ema", {
    params: xi,
    features: gatheredSp,
    scratch,
    code: poolSp,
  });
  const dropAg = await prepareDropout2d(gpu, arena, { rows: K, C: Df, P: 1, p: dropout }, poolAg, poolAg);
  const finishAg = [dropAg.dispatch, await prepareL2Normalize(gpu, arena, K, Df, { x: poolAg, y: poolAg })];
  const finishSp = [await prepareL2Normalize(gpu, arena, K, D, { x: poolSp, y: poolSp })];
  const pb = new PoolBuilder(
    gpu,
    arena,
    dims,
    poolAg,
    poolSp,
    { indices, gatheredSp, ema, dropAg, finishAg, finishSp },
  );
  if (features) await pb.bind(features);
  return pb;
}

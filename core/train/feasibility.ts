/**
 * Feasibility of a training run on this adapter, checked before the first forward (README "Training"): every GPU
 * buffer of the training graph (core/train/graph.ts), the validation pass (core/train/validation.ts) and the
 * reference pools must fit the adapter's binding and buffer limits, and their sum the memory we know of.
 * Instead of failing deep inside graph creation with a RangeError, a run that does not fit is refused in one
 * line naming the largest batch (or pool) that fits; the pool is checked against the dataset as well.
 *
 * The buffer list restates the sizes core/train/graph.ts, core/vit/vit.ts and core/eval/evaluate.ts
 * allocate: every training buffer that grows with the batch holds a whole batch (B·P rows, B·P LHP
 * coefficient rows, B·res² labels) and so is `perImage · B` bytes; the ViT's per-layer scratch is chunked by the
 * backbone itself and only needs one image to fit. tests/train/feasibility_test.ts checks the boundary
 * against real graph creation under a reduced limit.
 * @module
 */
import { InputError } from "../errors.ts";
import type { VitConfig } from "../vit/weights.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { headLayout, projectionLayout } from "../model/params.ts";

/** One GPU buffer whose size is `perImage · batch + fixed` bytes. */
export interface BufferNeed {
  label: string;
  perImage: number;
  fixed: number;
}

/** Sizes the plan needs besides the config. */
export interface PlanDims {
  vit: Pick<VitConfig, "patch" | "dim" | "heads" | "mlpDim">;
  nClasses: number;
}

/** The adapter limits the plan is checked against. */
export interface PlanLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

const F = 4; // bytes per f32 / i32 / u32

/** Bytes of the ViT's per-image scratch at `res` (chunked by core/vit/vit.ts, so one image must fit). */
export function vitScratchPerImage(vit: PlanDims["vit"], height: number, width = height): number {
  const P = (height / vit.patch) * (width / vit.patch), N = P + 1;
  // The fused attention keeps no [H, N, N] scores (core/vit/attention.ts).
  return Math.max(N * vit.mlpDim, N * 3 * vit.dim, P * 3 * vit.patch * vit.patch) * F;
}

/** The training graph's batch-dependent buffers (graph.ts HpGraph.create) for `cfg` at train.batch. */
export function trainingBuffers(cfg: HpConfig, d: PlanDims): BufferNeed[] {
  const r = cfg.train.res, S = r / d.vit.patch, P = S * S, Df = d.vit.dim, D = cfg.head.dim, n = d.nClasses;
  const aug = cfg.hp.alpha > 0;
  const per = (label: string, perImage: number, fixed = 0): BufferNeed => ({ label, perImage, fixed });
  return [
    per("vit-features [B, P, D_f]", P * Df * F),
    ...(aug ? [per("vit-features (augmented view) [B, P, D_f]", P * Df * F)] : []),
    per("vit-lhp [B·P, 9]", P * 9 * F),
    per("train-images [B, 3, res, res]", 3 * r * r * F),
    // The augmented view's pre-blur scratch and the contrast means (core/data/photometric.ts).
    ...(aug ? [per("batch-aug-scratch [B, 3, res, res] + [B]", (3 * r * r + 1) * F)] : []),
    per("train-labels [B, res, res]", r * r * F),
    per("linear-probe-lse [B, res, res]", r * r * F),
    per("head hidden / f̂ [B·P, D_f]", P * Df * F),
    per("codes [B·P, D]", P * D * F),
    per("probe scores [B·P, n]", P * n * F),
    per("metrics [B·P·12]", P * 12 * F, 64 * F),
    per("head parameters θ (and ξ, gradients, moments)", 0, headLayout(Df, D).total * F),
    per("projection head [D, D + 1]", 0, projectionLayout(D).total * F),
    per("a backbone weight matrix", 0, Math.max(d.vit.mlpDim, 3 * Df) * Df * F),
  ];
}

/** The validation pass's batch-dependent buffers (validation.ts, core/eval/evaluate.ts) at eval.batch and eval.res. */
export function evalBuffers(cfg: HpConfig, d: PlanDims): BufferNeed[] {
  const r = cfg.eval.res, S = r / d.vit.patch, P = S * S, Df = d.vit.dim, D = cfg.head.dim, n = d.nClasses;
  const per = (label: string, perImage: number): BufferNeed => ({ label, perImage, fixed: 0 });
  return [
    per("eval vit-features [B, P, D_f]", P * Df * F),
    per("eval images [B, 3, res, res]", 3 * r * r * F),
    per("eval head hidden [B·P, D_f]", P * Df * F),
    per("eval codes [B·P, D]", P * D * F),
    per("eval predictions [2, B, res, res]", 2 * r * r * F),
    per("eval probe scores [B·P, n]", P * n * F),
  ];
}

/** Pool buffers (pools.ts): Pool_ag [K, D_f], Pool_sp [K, D] and the gather scratch. */
export function poolBuffers(cfg: HpConfig, d: PlanDims): BufferNeed[] {
  const K = cfg.hp.pool_size;
  return [
    { label: "pool-ag [K, D_f]", perImage: 0, fixed: K * d.vit.dim * F },
    { label: "pool-sp [K, D]", perImage: 0, fixed: K * cfg.head.dim * F },
  ];
}

/** Multiply-adds × 2 of one ViT forward at `res` (patch embedding, qkv, attention, projection, MLP). */
export function vitForwardFlops(vit: PlanDims["vit"] & { depth: number }, res: number): number {
  const P = (res / vit.patch) ** 2, T = P + 1, C = vit.dim;
  const block = T * (2 * C * 3 * C + 2 * C * C + 4 * C * vit.mlpDim) + 4 * T * T * C;
  return 2 * P * C * 3 * vit.patch * vit.patch + vit.depth * block;
}

/** "84 TFLOP", "3.1 GFLOP". */
export function formatFlops(f: number): string {
  return f >= 1e12 ? `${(f / 1e12).toFixed(1)} TFLOP` : `${(f / 1e9).toFixed(1)} GFLOP`;
}

/** The most images per batch for which every buffer fits `limit` bytes (0 when even one does not). */
export function largestFittingBatch(needs: BufferNeed[], limit: number): number {
  let best = Infinity;
  for (const b of needs) {
    if (b.fixed > limit) return 0;
    if (b.perImage > 0) best = Math.min(best, Math.floor((limit - b.fixed) / b.perImage));
  }
  return Number.isFinite(best) ? Math.max(0, best) : Number.MAX_SAFE_INTEGER;
}

/** The buffer of `needs` that is largest at `batch`. */
function largestAt(needs: BufferNeed[], batch: number): { label: string; bytes: number } {
  let top = { label: "", bytes: -1 };
  for (const b of needs) {
    const bytes = b.perImage * batch + b.fixed;
    if (bytes > top.bytes) top = { label: b.label, bytes };
  }
  return top;
}

/** "128 MiB", "3.2 GB": sizes for one-line messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.ceil(bytes / 1e3)} kB`;
}

/** Rough total of GPU memory a run holds (all buffers listed here, the HP masks and the ViT weights). */
export function estimateRunBytes(cfg: HpConfig, d: PlanDims, weightBytes: number): number {
  const B = cfg.train.batch, Be = cfg.eval.batch;
  const sum = (needs: BufferNeed[], b: number) => needs.reduce((a, x) => a + x.perImage * b + x.fixed, 0);
  const N = B * (cfg.train.res / d.vit.patch) ** 2;
  // Two N×N bit-planes (N²/8 bytes each) on the sparse path; the dense path streams tiles.
  const masks = cfg.hp.loss_impl === "dense" || cfg.hp.rho > 0.25 ? 0 : N * N / 4;
  // Head hidden, f̂, scratch and the EMA head's copies; codes, projections and gradients (≈ 12 of [N, D]).
  const extra = N * d.vit.dim * F * 3 + N * cfg.head.dim * F * 10;
  return sum(trainingBuffers(cfg, d), B) + sum(evalBuffers(cfg, d), Be) + sum(poolBuffers(cfg, d), 0) +
    masks + extra + weightBytes + 2 * Math.min(vitScratchPerImage(d.vit, cfg.train.res) * B, 6 * 2 ** 30);
}

/** What {@link checkTrainingFits} found: a one-line summary for the log. */
export interface FitReport {
  /** e.g. "largest buffer vit-attn [B, P, P] 78.7 MB of the adapter's 128 MiB; about 3.1 GB in all". */
  summary: string;
  totalBytes: number;
}

/**
 * Checks the run against the adapter's limits before anything is allocated.
 * @param memoryBytes memory the buffers live in when known (system memory for a software adapter)
 * @throws InputError with one line naming what does not fit and the largest batch / pool that does
 */
export function checkTrainingFits(
  cfg: HpConfig,
  d: PlanDims,
  limits: PlanLimits,
  opts: { weightBytes?: number; memoryBytes?: number } = {},
): FitReport {
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const lim = formatBytes(limit);
  for (const [res, key] of [[cfg.train.res, "train.res"], [cfg.eval.res, "eval.res"]] as const) {
    const one = vitScratchPerImage(d.vit, res);
    if (one > limit) {
      throw new InputError(
        `${key} ${res} does not fit this adapter: one image's ViT activations need ${
          formatBytes(one)
        }, over ` +
          `its ${lim} binding limit; lower ${key}`,
      );
    }
  }
  const pools = poolBuffers(cfg, d);
  const poolTop = largestAt(pools, 0);
  if (poolTop.bytes > limit) {
    const perRow = Math.max(d.vit.dim, cfg.head.dim) * F;
    throw new InputError(
      `hp.pool_size ${cfg.hp.pool_size} does not fit this adapter: ${poolTop.label} needs ` +
        `${formatBytes(poolTop.bytes)}, over its ${lim} binding limit; the largest pool that fits is ` +
        `${Math.floor(limit / perRow)} (--set hp.pool_size=${Math.floor(limit / perRow)})`,
    );
  }
  const refuse = (needs: BufferNeed[], batch: number, key: string, what: string) => {
    const top = largestAt(needs, batch);
    if (top.bytes <= limit) return top;
    const fit = largestFittingBatch(needs, limit);
    throw new InputError(
      `${key} ${batch} does not fit this adapter at ${what}: ${top.label} needs ${formatBytes(top.bytes)}, ` +
        `over its ${lim} binding limit; the largest batch that fits is ${fit}` +
        (fit > 0 ? ` (--set ${key}=${fit})` : ""),
    );
  };
  const vitName = `ViT p${d.vit.patch}, D_f ${d.vit.dim}`;
  const top = refuse(
    trainingBuffers(cfg, d),
    cfg.train.batch,
    "train.batch",
    `train.res ${cfg.train.res} (${vitName})`,
  );
  refuse(evalBuffers(cfg, d), cfg.eval.batch, "eval.batch", `eval.res ${cfg.eval.res}`);
  const total = estimateRunBytes(cfg, d, opts.weightBytes ?? 0);
  if (opts.memoryBytes && total > 0.9 * opts.memoryBytes) {
    throw new InputError(
      `train.batch ${cfg.train.batch} at train.res ${cfg.train.res} needs about ${
        formatBytes(total)
      } of GPU ` +
        `buffers, more than the ${
          formatBytes(opts.memoryBytes)
        } of memory this adapter uses; lower train.batch`,
    );
  }
  return {
    summary: `largest GPU buffer: ${top.label}, ${formatBytes(top.bytes)} of the adapter's ${lim} binding ` +
      `limit; about ${formatBytes(total)} of GPU buffers in all`,
    totalBytes: total,
  };
}

/**
 * The pool needs ⌈K/B⌉ batches of the pool loader, which drops the last partial batch: refuse a pool larger
 * than the training set gives before any forward (the reference would loop forever or crash).
 */
export function checkPoolFitsDataset(cfg: HpConfig, trainImages: number, what: string): void {
  const B = cfg.train.batch, K = cfg.hp.pool_size;
  const need = Math.ceil(K / B), have = Math.floor(trainImages / B);
  if (need > have) {
    throw new InputError(
      `hp.pool_size ${K} needs ${need} batches of ${B} training images (${need * B}), but ${what} has ` +
        `${trainImages} (${have} full batches); lower hp.pool_size to at most ${have * B}`,
    );
  }
}

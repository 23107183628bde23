/**
 * Training checkpoints (hp-method.md §8.7; README "Configs and checkpoints"): one safetensors file holding every tensor of the
 * training state plus JSON metadata (config, step, epoch, batch-in-epoch, RNG states, optimiser step
 * counts, free-form extras), written atomically. A run folder's checkpoint files (last, step, best) are
 * managed by core/train/run_checkpoints.ts. Also imports the released
 * official HP `ckpt.pth` heads and probes (the backbone part is read by core/vit/weights.ts).
 *
 * Tensor names: θ under the official keys (`cluster1.0.weight` [D, D_f] …, stored 2-D), ξ under
 * `ema_model1.*` / `ema_model2.*`, `projection.weight|bias`, `pool.ag` [K, D_f], `pool.sp` [K, D],
 * `probe.<name>` (the trainer writes `probe.cluster.clusters` [n, D] and `probe.linear.params` [n·D + n] =
 * weight [n, D] then bias [n]; core/eval/eval_model.ts also reads `probe.linear.weight|bias`),
 * `optim.<name>.m|v` (flat). Metadata key "hpseg" holds the JSON of {@link CheckpointMeta}.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import {
  encodeSafetensors,
  readSafetensors,
  type SafetensorsFile,
  type TensorToWrite,
} from "../io/safetensors.ts";
import { PthFile, type PyValue, TensorRef } from "../io/pth.ts";
import { configFromObject } from "./config.ts";
import { type HpConfig } from "./config_schema.ts";
import type { OptimState } from "../kernels/optim.ts";
import { HEAD_KEYS, headLayout, type ParamLayout, projectionLayout } from "./params.ts";

/** Format tag and version stored in the metadata; a different value is refused. */
export const CHECKPOINT_FORMAT = "hpseg-train-state";
export const CHECKPOINT_VERSION = 1;

/** A tensor with its shape. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Widths of the trained modules. */
export interface StateDims {
  /** Backbone width D_f. */
  Df: number;
  /** Code width D. */
  D: number;
  /** Pool size K. */
  K: number;
}

/** Everything needed to continue training exactly (the trainer fills it from GPU buffers between steps). */
export interface TrainState {
  config: HpConfig;
  /** Optimiser steps taken (global iteration count). */
  step: number;
  epoch: number;
  /** Index of the next batch inside `epoch`. */
  batchInEpoch: number;
  /** Named Rng states (`Rng.state`), e.g. { main, loader, pools }. */
  rng: Record<string, number[]>;
  dims: StateDims;
  /** θ, flat in headLayout(D_f, D). */
  head: Float32Array;
  /** ξ, flat in headLayout(D_f, D). */
  ema: Float32Array;
  /** Projection head, flat in projectionLayout(D). */
  projection: Float32Array;
  /** Pool_ag [K, D_f] and Pool_sp [K, D]. */
  pools: { ag: Float32Array; sp: Float32Array };
  /** Probe tensors by name: the trainer writes "cluster.clusters" [n, D] and "linear.params" [n·D + n]. */
  probes: Record<string, NamedTensor>;
  /** Optimiser states by name, e.g. head, projection, linear, cluster. */
  optim: Record<string, OptimState>;
  /** Free-form JSON the trainer wants back (best score, selection metric history, …). */
  extra: Record<string, unknown>;
}

/** The JSON stored under the "hpseg" metadata key. */
export interface CheckpointMeta {
  format: string;
  version: number;
  config: HpConfig;
  step: number;
  epoch: number;
  batchInEpoch: number;
  rng: Record<string, number[]>;
  dims: StateDims;
  optimSteps: Record<string, number>;
  probes: string[];
  extra: Record<string, unknown>;
}

const EMA_PREFIX: Record<string, string> = { cluster1: "ema_model1", cluster2: "ema_model2" };

/** The ξ key for a θ key (`cluster2.2.weight` → `ema_model2.2.weight`). */
export function emaKey(headKey: string): string {
  const [mod, ...rest] = headKey.split(".");
  return [EMA_PREFIX[mod], ...rest].join(".");
}

// ---------------------------------------------------------------------------------------------------
// Save

function layoutTensors(L: ParamLayout, flat: Float32Array, rename: (k: string) => string, what: string) {
  if (flat.length !== L.total) {
    throw new TypeError(`checkpoint: ${what} has ${flat.length} values, expected ${L.total}`);
  }
  const out: Record<string, TensorToWrite> = {};
  for (const [k, t] of Object.entries(L.toTensors(flat))) out[rename(k)] = t;
  return out;
}

/** Encodes a training state as safetensors bytes. @throws TypeError when sizes disagree with `dims`. */
export function encodeCheckpoint(s: TrainState): Uint8Array {
  const { Df, D, K } = s.dims;
  const hl = headLayout(Df, D);
  const tensors: Record<string, TensorToWrite> = {
    ...layoutTensors(hl, s.head, (k) => k, "head"),
    ...layoutTensors(hl, s.ema, emaKey, "ema"),
    ...layoutTensors(projectionLayout(D), s.projection, (k) => k, "projection"),
    "pool.ag": { shape: [K, Df], data: s.pools.ag },
    "pool.sp": { shape: [K, D], data: s.pools.sp },
  };
  for (const [name, t] of Object.entries(s.probes)) {
    tensors[`probe.${name}`] = { shape: t.shape, data: t.data };
  }
  for (const [name, o] of Object.entries(s.optim)) {
    tensors[`optim.${name}.m`] = { shape: [o.m.length], data: o.m };
    tensors[`optim.${name}.v`] = { shape: [o.v.length], data: o.v };
  }
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: s.config,
    step: s.step,
    epoch: s.epoch,
    batchInEpoch: s.batchInEpoch,
    rng: s.rng,
    dims: s.dims,
    optimSteps: Object.fromEntries(Object.entries(s.optim).map(([k, o]) => [k, o.step])),
    probes: Object.keys(s.probes),
    extra: s.extra,
  };
  return encodeSafetensors(tensors, { hpseg: JSON.stringify(meta) });
}

/** Writes a training state to `path` atomically (temp file + fsync + rename). */
export async function saveCheckpoint(path: string, s: TrainState): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(s));
}

// ---------------------------------------------------------------------------------------------------
// Load

function bad(path: string, why: string): never {
  throw new InputError(`Cannot load checkpoint ${path}: ${why}`);
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32);
}

function readMeta(path: string, st: SafetensorsFile): CheckpointMeta {
  const raw = st.metadata.hpseg;
  if (raw === undefined) bad(path, 'no "hpseg" metadata (not an hpseg training checkpoint)');
  let m: CheckpointMeta;
  try {
    m = JSON.parse(raw);
  } catch (err) {
    bad(path, `metadata is not valid JSON (${(err as Error).message})`);
  }
  if (m.format !== CHECKPOINT_FORMAT || m.version !== CHECKPOINT_VERSION) {
    bad(
      path,
      `format ${
        JSON.stringify(m.format)
      } v${m.version}, this program reads ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION}`,
    );
  }
  for (const k of ["step", "epoch", "batchInEpoch"] as const) {
    if (!Number.isInteger(m[k]) || m[k] < 0) {
      bad(path, `metadata ${k} must be a non-negative integer, got ${m[k]}`);
    }
  }
  const d = m.dims;
  if (!d || ![d.Df, d.D, d.K].every((x) => Number.isInteger(x) && x > 0)) {
    bad(path, `metadata dims ${JSON.stringify(d)} are not positive integers`);
  }
  if (
    typeof m.rng !== "object" || m.rng === null ||
    !Object.values(m.rng).every((s) => isIntArray(s) && s.length === 4)
  ) {
    bad(path, "metadata rng must map names to 4-word states");
  }
  if (!Array.isArray(m.probes) || typeof m.optimSteps !== "object" || m.optimSteps === null) {
    bad(path, "metadata lacks probes or optimSteps");
  }
  m.config = configFromObject(m.config, path);
  return m;
}

function tensor(path: string, st: SafetensorsFile, name: string, shape?: number[]): Float32Array {
  if (!st.has(name)) bad(path, `tensor "${name}" is missing`);
  const info = st.info(name);
  if (info.dtype !== "F32") bad(path, `tensor "${name}" is ${info.dtype}, expected F32`);
  if (shape && (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i]))) {
    bad(path, `tensor "${name}" has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
  return st.getWeight(name); // a NaN/Inf value makes the checkpoint unreadable, not a result
}

function readLayout(path: string, st: SafetensorsFile, L: ParamLayout, rename: (k: string) => string) {
  return L.fromTensors((k, seg) => tensor(path, st, rename(k), seg.shape));
}

/**
 * Reads a training state. Optional `expect` dims must match (a checkpoint of another model is refused).
 * @throws InputError naming the file and the problem (truncated, not a checkpoint, wrong shapes, …).
 */
export async function loadCheckpoint(path: string, expect?: Partial<StateDims>): Promise<TrainState> {
  const st = await readSafetensors(path);
  try {
    const m = readMeta(path, st);
    const { Df, D, K } = m.dims;
    for (const [k, v] of Object.entries(expect ?? {})) {
      if (v !== undefined && m.dims[k as keyof StateDims] !== v) {
        bad(path, `${k} is ${m.dims[k as keyof StateDims]}, this run needs ${v}`);
      }
    }
    const hl = headLayout(Df, D);
    const probes: Record<string, NamedTensor> = {};
    for (const name of m.probes) {
      const data = tensor(path, st, `probe.${name}`);
      probes[name] = { shape: st.info(`probe.${name}`).shape, data };
    }
    const optim: Record<string, OptimState> = {};
    for (const [name, step] of Object.entries(m.optimSteps)) {
      if (!Number.isInteger(step) || step < 0) bad(path, `optimiser "${name}" step ${step} is not a count`);
      const mm = tensor(path, st, `optim.${name}.m`), vv = tensor(path, st, `optim.${name}.v`);
      if (mm.length !== vv.length) bad(path, `optimiser "${name}" moments differ in length`);
      optim[name] = { step, m: mm, v: vv };
    }
    for (const [name, n] of [["head", hl.total], ["projection", projectionLayout(D).total]] as const) {
      if (optim[name] && optim[name].m.length !== n) {
        bad(path, `optimiser "${name}" has ${optim[name].m.length} moments, the ${name} has ${n} parameters`);
      }
    }
    return {
      config: m.config,
      step: m.step,
      epoch: m.epoch,
      batchInEpoch: m.batchInEpoch,
      rng: m.rng,
      dims: m.dims,
      head: readLayout(path, st, hl, (k) => k),
      ema: readLayout(path, st, hl, emaKey),
      projection: readLayout(path, st, projectionLayout(D), (k) => k),
      pools: { ag: tensor(path, st, "pool.ag", [K, Df]), sp: tensor(path, st, "pool.sp", [K, D]) },
      probes,
      optim,
      extra: m.extra ?? {},
    };
  } catch (err) {
    if (err instanceof TypeError) bad(path, err.message);
    throw err;
  } finally {
    st.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Official HP checkpoints

/** The trained parts of a released HP `ckpt.pth`. */
export interface OfficialHpHeads {
  dims: { Df: number; D: number; nClasses: number };
  /** θ flat in headLayout(D_f, D). */
  head: Float32Array;
  /** ξ flat, or null when the file has no `ema_model*` keys. */
  ema: Float32Array | null;
  /** Linear probe weight [n, D] and bias [n]. */
  linear: { weight: Float32Array; bias: Float32Array };
  /** Cluster probe centroids [n, D]. */
  clusters: Float32Array;
  /** epoch / iter / best fields when present. */
  info: Record<string, number>;
}

/**
 * Reads the segmentation head (and EMA head), linear probe and cluster probe of an official HP checkpoint
 * (`net_model_state_dict`, `linear_model_state_dict`, `cluster_model_state_dict`; hp-method.md §8.7).
 * 1×1-conv weights [out, in, 1, 1] are accepted and stored 2-D. The ViT part is loaded by
 * core/vit/weights.ts from the same file.
 * @throws InputError naming the file and the missing or mis-shaped key.
 */
export function importOfficialHpCheckpoint(pthPath: string): OfficialHpHeads {
  const pth = PthFile.open(pthPath);
  try {
    const fail = (why: string): never => {
      throw new InputError(`Cannot import HP checkpoint ${pthPath}: ${why}`);
    };
    const root = pth.root;
    if (!(root instanceof Map)) fail("the top level is not a dict");
    const dictOf = (name: string) => {
      const d = (root as Map<PyValue, PyValue>).get(name);
      if (!(d instanceof Map)) fail(`no "${name}" dict (not an official HP ckpt.pth?)`);
      return d as Map<PyValue, PyValue>;
    };
    const net = dictOf("net_model_state_dict");
    const lin = dictOf("linear_model_state_dict");
    const clu = dictOf("cluster_model_state_dict");
    const ref = (d: Map<PyValue, PyValue>, dname: string, key: string): TensorRef => {
      const t = d.get(key) ?? d.get(`module.${key}`);
      if (!(t instanceof TensorRef)) fail(`${dname} has no tensor "${key}"`);
      return t as TensorRef;
    };
    // 2-D shape of a weight stored [out, in] or [out, in, 1, 1].
    const shape2 = (t: TensorRef, key: string): number[] => {
      const s = [...t.shape];
      if (s.length === 4 && s[2] === 1 && s[3] === 1) return [s[0], s[1]];
      if (s.length !== 2 && s.length !== 1) {
        fail(`"${key}" has shape [${s.join(", ")}], expected [out, in(, 1, 1)]`);
      }
      return s;
    };
    const w1 = ref(net, "net_model_state_dict", HEAD_KEYS.w1);
    const [D, Df] = shape2(w1, HEAD_KEYS.w1);
    const hl = headLayout(Df, D);
    const readHead = (rename: (k: string) => string) =>
      hl.fromTensors((k, seg) => {
        const key = rename(k);
        const t = ref(net, "net_model_state_dict", key);
        const s = seg.shape.length === 2 ? shape2(t, key) : [...t.shape];
        if (s.length !== seg.shape.length || s.some((v, i) => v !== seg.shape[i])) {
          fail(
            `"${key}" has shape [${t.shape.join(", ")}], expected [${
              seg.shape.join(", ")
            }] for D_f ${Df}, D ${D}`,
          );
        }
        return pth.readWeight(t, `tensor "${key}"`);
      });
    const head = readHead((k) => k);
    const hasEma = net.has(emaKey(HEAD_KEYS.w1)) || net.has(`module.${emaKey(HEAD_KEYS.w1)}`);
    const ema = hasEma ? readHead(emaKey) : null;
    const lw = ref(lin, "linear_model_state_dict", "weight");
    const [n, lwIn] = shape2(lw, "weight");
    if (lwIn !== D) {
      fail(`linear probe weight has shape [${lw.shape.join(", ")}], expected [n, ${D}(, 1, 1)]`);
    }
    const lb = ref(lin, "linear_model_state_dict", "bias");
    if (lb.shape.length !== 1 || lb.shape[0] !== n) {
      fail(`linear probe bias has shape [${lb.shape.join(", ")}], expected [${n}]`);
    }
    const cc = ref(clu, "cluster_model_state_dict", "clusters");
    if (cc.shape.length !== 2 || cc.shape[1] !== D) {
      fail(`cluster probe "clusters" has shape [${cc.shape.join(", ")}], expected [n, ${D}]`);
    }
    const info: Record<string, number> = {};
    for (const k of ["epoch", "iter", "best"]) {
      const v = (root as Map<PyValue, PyValue>).get(k);
      if (typeof v === "number") info[k] = v;
    }
    return {
      dims: { Df, D, nClasses: n },
      head,
      ema,
      linear: { weight: pth.readWeight(lw, "linear weight"), bias: pth.readWeight(lb, "linear bias") },
      clusters: pth.readWeight(cc, "clusters"),
      info,
    };
  } finally {
    pth.close();
  }
}

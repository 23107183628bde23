/**
 * The training configuration's schema — its one source of truth (hp-method.md §6, §7): every key with its
 * type, range and meaning, and {@link HpConfig}, the TypeScript type derived from it. config.ts reads YAML and
 * `--set` overrides against it; a key the schema does not list is refused, and every key it lists is read by
 * the trainer, evaluation or the CLI.
 * @module
 */
import {
  MAX_BATCH,
  MAX_CODE_DIM,
  MAX_EVAL_CLASSES,
  MAX_RESOLUTION,
  MAX_SYNTHETIC_COUNT,
  MAX_WORKERS,
} from "../limits.ts";
import { DATASET_NAMES } from "../../datasets/dataset.ts";
import { DINOV2_ARCHS, DINOV2_PATCH } from "./config_dinov2.ts";

/** One key's type and allowed range. */
export type Field =
  | {
    type: "int";
    min: number;
    max?: number;
    values?: readonly number[];
    multipleOf?: number;
    /** Also accepts the word `auto` (the program picks). */
    auto?: boolean;
  }
  | { type: "number"; min: number; minOpen?: boolean; max?: number; maxOpen?: boolean }
  | { type: "string" }
  | { type: "bool" }
  | { type: "enum"; values: readonly string[] };

const INT_MAX = 2 ** 31 - 1;

/** Every section and key. Comments say what a key means where its name does not. */
export const SCHEMA = {
  dataset: {
    name: { type: "enum", values: DATASET_NAMES },
    /** Dataset folder (hp-method.md §9 layouts); "" for the in-memory synthetic scenes. */
    root: { type: "string" },
    /** Train on the five-crop folder `prepare` writes (COCO-Stuff, Cityscapes; §9.4). */
    five_crop: { type: "bool" },
    /** Read the packed caches `prepare --pack` wrote: train at train.res, val at eval.res (datasets/packed.ts). */
    packed: { type: "bool" },
    /** synthetic only: generated image side, train and validation image counts. */
    image_size: { type: "int", min: 8, max: MAX_RESOLUTION },
    train_count: { type: "int", min: 1, max: MAX_SYNTHETIC_COUNT },
    val_count: { type: "int", min: 1, max: MAX_SYNTHETIC_COUNT },
    /** folder only: number of classes when the folder has no classes.txt (0 = from the folder). */
    n_classes: { type: "int", min: 0, max: MAX_EVAL_CLASSES },
    /**
     * Data-loading Web Workers, shared by the training, pool and validation loaders; auto = 0 for synthetic
     * scenes (generated in the trainer's thread), else min(CPU threads − 1, 4) (core/data/loader.ts).
     */
    workers: { type: "int", min: 0, max: MAX_WORKERS, auto: true },
  },
  backbone: {
    /**
     * vit_small / vit_base: DINO ViT-S / ViT-B; auto: whatever the weights hold (backbone.ts; a run records
     * the detected arch); embedded: the built-in deterministic small ViT; dinov2_*: DINOv2 ViT-S/B/L/14 with
     * or without 4 registers (core/vit/variants.ts).
     */
    arch: { type: "enum", values: ["vit_small", "vit_base", "auto", "embedded", ...DINOV2_ARCHS] },
    patch: { type: "int", min: 8, values: [8, DINOV2_PATCH, 16] },
    /** .pth or .safetensors path ("" for the embedded backbone). */
    weights: { type: "string" },
    /**
     * Arithmetic of the frozen ViT (core/vit/precision.ts): f32; f16 (f16 weights and activations, f32
     * sums, LayerNorm and softmax, like the official fp16 autocast; needs shader-f16); auto: f16 on a
     * hardware adapter with shader-f16, else f32 (no reliable gain on a software adapter; CI stays exact).
     */
    precision: { type: "enum", values: ["auto", "f32", "f16"] },
  },
  head: {
    /** Code width D (hp-method.md §2.2). */
    dim: { type: "int", min: 4, max: MAX_CODE_DIM, multipleOf: 4 },
    /** Probability of every Dropout2d of §2.6 (θ/ξ branch inputs, f̂, ŝ̄, s̃, both pools); 0 turns all off. */
    dropout: { type: "number", min: 0, max: 1, maxOpen: true },
  },
  hp: {
    tau: { type: "number", min: 0, minOpen: true, max: 100 },
    tau_base: { type: "number", min: 0, minOpen: true, max: 100 },
    alpha: { type: "number", min: 0, max: 1e6 },
    rho: { type: "number", min: 0, max: 1 },
    pool_size: { type: "int", min: 1, max: 1 << 20 },
    renew_interval: { type: "int", min: 1, max: INT_MAX },
    ema_momentum: { type: "number", min: 0, max: 1 },
    lambda_warmup: { type: "int", min: 0, max: INT_MAX },
    sigma: { type: "number", min: 0, minOpen: true, max: 1e6 },
    /** Hidden-positive loss implementation (loss.ts): auto = sparse for ρ ≤ 0.25, else dense. */
    loss_impl: { type: "enum", values: ["auto", "sparse", "dense"] },
    /** Precision of f̂, ŝ̄ and the pools in the threshold and mask passes (loss.ts): f32 exact, f16 faster. */
    mask_precision: { type: "enum", values: ["f32", "f16"] },
  },
  train: {
    epochs: { type: "int", min: 1, max: 100000 },
    batch: { type: "int", min: 1, max: MAX_BATCH },
    res: { type: "int", min: 8, max: MAX_RESOLUTION },
    lr: { type: "number", min: 0, max: 10 },
    weight_decay: { type: "number", min: 0, max: 10 },
    clip: { type: "number", min: 0, minOpen: true, max: 1e12 },
    proj_lr: { type: "number", min: 0, max: 10 },
    linear_lr: { type: "number", min: 0, max: 10 },
    cluster_lr: { type: "number", min: 0, max: 10 },
    seed: { type: "int", min: 0, max: 2 ** 32 - 1 },
    aug_mode: { type: "enum", values: ["reference", "clean"] },
    log_every: { type: "int", min: 1, max: INT_MAX },
    checkpoint_every: { type: "int", min: 1, max: INT_MAX },
  },
  eval: {
    res: { type: "int", min: 8, max: MAX_RESOLUTION },
    batch: { type: "int", min: 1, max: MAX_BATCH },
    valid_freq: { type: "int", min: 1, max: INT_MAX },
    /** Which checkpoint the final scores come from: the last one, or the best on the validation split. */
    selection: { type: "enum", values: ["val", "last"] },
    /** The final evaluation also scores the model after the dense CRF (hp-method.md §1, §8.5). */
    crf: { type: "bool" },
  },
} as const satisfies Record<string, Record<string, Field>>;

/** The value type a field describes. */
type ValueOf<F> = F extends { type: "int" }
  ? (F extends { values: readonly (infer V)[] } ? V : number) | (F extends { auto: true } ? "auto" : never)
  : F extends { type: "number" } ? number
  : F extends { type: "string" } ? string
  : F extends { type: "bool" } ? boolean
  : F extends { type: "enum"; values: readonly (infer V)[] } ? V
  : never;

type Schema = typeof SCHEMA;

/** The full, validated configuration of one run (keys as written in the YAML), derived from {@link SCHEMA}. */
export type HpConfig = {
  -readonly [S in keyof Schema]: { -readonly [K in keyof Schema[S]]: ValueOf<Schema[S][K]> };
};

/** Every allowed key as "section.key" → its field. */
export const CONFIG_SCHEMA: Readonly<Record<string, Field>> = Object.fromEntries(
  Object.entries(SCHEMA).flatMap(([s, keys]) =>
    Object.entries(keys).map(([k, f]): [string, Field] => [`${s}.${k}`, f])
  ),
);

/**
 * Keys newer than some run folders and checkpoints, with the value that means what those runs did, so
 * their stored configs still load.
 */
export const ADDED_KEYS: Readonly<Record<string, unknown>> = {
  "dataset.packed": false,
  "dataset.workers": "auto",
  "hp.mask_precision": "f32",
  "backbone.precision": "f32",
};

/** Keys a YAML file may leave out (keys of other datasets in the embedded configs, and {@link ADDED_KEYS}). */
export const OPTIONAL_DEFAULTS: Readonly<Record<string, unknown>> = {
  "dataset.image_size": 64,
  "dataset.train_count": 300,
  "dataset.val_count": 60,
  "dataset.n_classes": 0,
  "hp.loss_impl": "auto",
  ...ADDED_KEYS,
  // Runs from before the key were f32; a config written today that leaves it out gets the default.
  "backbone.precision": "auto",
};

/** A value as messages quote it. */
export function describeValue(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : v === null ? "null (empty)" : String(v);
}

/** Returns an error text for `value` at `key`, or null when it is valid. */
export function checkValue(key: string, f: Field, value: unknown): string | null {
  switch (f.type) {
    case "int": {
      if (f.auto && value === "auto") return null;
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return `${key} must be an integer${f.auto ? " or auto" : ""}, got ${describeValue(value)}`;
      }
      if (f.values && !f.values.includes(value)) {
        return `${key} must be one of ${f.values.join(", ")}, got ${value}`;
      }
      if (value < f.min || (f.max !== undefined && value > f.max)) {
        return `${key} must be in [${f.min}, ${f.max}], got ${value}`;
      }
      if (f.multipleOf && value % f.multipleOf !== 0) {
        return `${key} must be a multiple of ${f.multipleOf}, got ${value}`;
      }
      return null;
    }
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        return `${key} must be a number, got ${describeValue(value)}`;
      }
      const lo = f.minOpen ? value <= f.min : value < f.min;
      const hi = f.max !== undefined && (f.maxOpen ? value >= f.max : value > f.max);
      if (lo || hi) {
        return `${key} must be in ${f.minOpen ? "(" : "["}${f.min}, ${f.max}${
          f.maxOpen ? ")" : "]"
        }, got ${value}`;
      }
      return null;
    }
    case "string":
      return typeof value === "string" ? null : `${key} must be a string, got ${describeValue(value)}`;
    case "bool":
      return typeof value === "boolean" ? null : `${key} must be true or false, got ${describeValue(value)}`;
    case "enum":
      return typeof value === "string" && f.values.includes(value)
        ? null
        : `${key} must be one of ${f.values.join(", ")}, got ${describeValue(value)}`;
  }
}

/** Whether `v` has exactly the schema's sections and keys, each with a valid value. */
export function isHpConfig(v: unknown): v is HpConfig {
  if (typeof v !== "object" || v === null) return false;
  const sections = Object.entries(v);
  if (sections.length !== Object.keys(SCHEMA).length) return false;
  let keys = 0;
  for (const [s, body] of sections) {
    if (typeof body !== "object" || body === null) return false;
    for (const [k, value] of Object.entries(body)) {
      const f = CONFIG_SCHEMA[`${s}.${k}`];
      if (!f || checkValue(`${s}.${k}`, f, value) !== null) return false;
      keys++;
    }
  }
  return keys === Object.keys(CONFIG_SCHEMA).length;
}

/**
 * Training configuration (hp-method.md §6, §7): YAML files validated on load, overridable with
 * `--set section.key=value`. The official per-dataset defaults ship as configs/{cocostuff27,cityscapes,
 * potsdam}.yaml and the embedded default as configs/synthetic.yaml; they are text-imported, so the compiled
 * binary never reads them relative to the working directory. A user's own YAML may be partial: the keys it
 * omits come from the embedded config named by its top-level `extends:` (default cocostuff27).
 *
 * Every problem is an InputError naming the file (or `--set`), the key and, when known, the line: an
 * unknown key, a wrong type, an out-of-range value, or YAML that does not parse.
 * @module
 */
import {
  isMap,
  isScalar,
  LineCounter,
  parse as parseYaml,
  parseDocument,
  stringify,
  type YAMLMap,
} from "yaml";
import { InputError } from "../errors.ts";
import { nearestMultiples } from "../vit/variants.ts";
import {
  MAX_BATCH,
  MAX_CODE_DIM,
  MAX_EVAL_CLASSES,
  MAX_RESOLUTION,
  MAX_SYNTHETIC_COUNT,
  MAX_TRAIN_PATCHES,
} from "../limits.ts";
import cocostuff27Yaml from "../../configs/cocostuff27.yaml" with { type: "text" };
import cityscapesYaml from "../../configs/cityscapes.yaml" with { type: "text" };
import potsdamYaml from "../../configs/potsdam.yaml" with { type: "text" };
import syntheticYaml from "../../configs/synthetic.yaml" with { type: "text" };
import {
  DINOV2_ARCHS,
  DINOV2_CONFIGS,
  DINOV2_PATCH,
  type Dinov2Arch,
  dinov2ConfigRelations,
} from "./config_dinov2.ts";

/** The full, validated configuration of one run (keys as written in the YAML). */
export interface HpConfig {
  dataset: {
    name: "cocostuff27" | "cityscapes" | "potsdam" | "folder" | "synthetic";
    root: string;
    five_crop: boolean;
    /** synthetic only: generated image side, train and validation image counts. */
    image_size: number;
    train_count: number;
    val_count: number;
    /** folder only: number of classes when the folder has no classes.txt (0 = from the folder). */
    n_classes: number;
  };
  backbone: {
    /**
     * vit_small / vit_base: DINO ViT-S / ViT-B; auto: whatever the weights hold (core/model/backbone.ts; a run
     * records the detected arch); embedded: the built-in deterministic small ViT; dinov2_*: DINOv2
     * ViT-S/B/L/14 with or without 4 registers (core/vit/variants.ts).
     */
    arch: "vit_small" | "vit_base" | "auto" | "embedded" | Dinov2Arch;
    patch: 8 | 14 | 16;
    /** .pth or .safetensors path ("" for the embedded backbone). */
    weights: string;
  };
  head: { dim: number; dropout: number };
  hp: {
    tau: number;
    tau_base: number;
    alpha: number;
    rho: number;
    pool_size: number;
    renew_interval: number;
    ema_momentum: number;
    lambda_warmup: number;
    sigma: number;
    /** Hidden-positive loss implementation (core/model/loss.ts): auto = sparse for ρ ≤ 0.25, else dense. */
    loss_impl: "auto" | "sparse" | "dense";
  };
  train: {
    epochs: number;
    batch: number;
    res: number;
    lr: number;
    weight_decay: number;
    clip: number;
    proj_lr: number;
    linear_lr: number;
    cluster_lr: number;
    seed: number;
    aug_mode: "reference" | "clean";
    log_every: number;
    checkpoint_every: number;
  };
  eval: {
    res: number;
    batch: number;
    valid_freq: number;
    selection: "val" | "last";
    crf: boolean;
  };
}

/** One key's type and allowed range. */
type Field =
  | { type: "int"; min: number; max?: number; values?: readonly number[]; multipleOf?: number }
  | { type: "number"; min: number; minOpen?: boolean; max?: number; maxOpen?: boolean }
  | { type: "string" }
  | { type: "bool" }
  | { type: "enum"; values: readonly string[] };

const INT_MAX = 2 ** 31 - 1;

/** Every allowed key, "section.key" → type and range. */
export const CONFIG_SCHEMA: Record<string, Field> = {
  "dataset.name": { type: "enum", values: ["cocostuff27", "cityscapes", "potsdam", "folder", "synthetic"] },
  "dataset.root": { type: "string" },
  "dataset.five_crop": { type: "bool" },
  "dataset.image_size": { type: "int", min: 8, max: MAX_RESOLUTION },
  "dataset.train_count": { type: "int", min: 1, max: MAX_SYNTHETIC_COUNT },
  "dataset.val_count": { type: "int", min: 1, max: MAX_SYNTHETIC_COUNT },
  "dataset.n_classes": { type: "int", min: 0, max: MAX_EVAL_CLASSES },
  "backbone.arch": { type: "enum", values: ["vit_small", "vit_base", "auto", "embedded", ...DINOV2_ARCHS] },
  "backbone.patch": { type: "int", min: 8, values: [8, DINOV2_PATCH, 16] },
  "backbone.weights": { type: "string" },
  "head.dim": { type: "int", min: 4, max: MAX_CODE_DIM, multipleOf: 4 },
  "head.dropout": { type: "number", min: 0, max: 1, maxOpen: true },
  "hp.tau": { type: "number", min: 0, minOpen: true, max: 100 },
  "hp.tau_base": { type: "number", min: 0, minOpen: true, max: 100 },
  "hp.alpha": { type: "number", min: 0, max: 1e6 },
  "hp.rho": { type: "number", min: 0, max: 1 },
  "hp.pool_size": { type: "int", min: 1, max: 1 << 20 },
  "hp.renew_interval": { type: "int", min: 1, max: INT_MAX },
  "hp.ema_momentum": { type: "number", min: 0, max: 1 },
  "hp.lambda_warmup": { type: "int", min: 0, max: INT_MAX },
  "hp.sigma": { type: "number", min: 0, minOpen: true, max: 1e6 },
  "hp.loss_impl": { type: "enum", values: ["auto", "sparse", "dense"] },
  "train.epochs": { type: "int", min: 1, max: 100000 },
  "train.batch": { type: "int", min: 1, max: MAX_BATCH },
  "train.res": { type: "int", min: 8, max: MAX_RESOLUTION },
  "train.lr": { type: "number", min: 0, max: 10 },
  "train.weight_decay": { type: "number", min: 0, max: 10 },
  "train.clip": { type: "number", min: 0, minOpen: true, max: 1e12 },
  "train.proj_lr": { type: "number", min: 0, max: 10 },
  "train.linear_lr": { type: "number", min: 0, max: 10 },
  "train.cluster_lr": { type: "number", min: 0, max: 10 },
  "train.seed": { type: "int", min: 0, max: 2 ** 32 - 1 },
  "train.aug_mode": { type: "enum", values: ["reference", "clean"] },
  "train.log_every": { type: "int", min: 1, max: INT_MAX },
  "train.checkpoint_every": { type: "int", min: 1, max: INT_MAX },
  "eval.res": { type: "int", min: 8, max: MAX_RESOLUTION },
  "eval.batch": { type: "int", min: 1, max: MAX_BATCH },
  "eval.valid_freq": { type: "int", min: 1, max: INT_MAX },
  "eval.selection": { type: "enum", values: ["val", "last"] },
  "eval.crf": { type: "bool" },
};

/** Values the embedded configs may leave out (keys of other datasets). */
const OPTIONAL_DEFAULTS: Record<string, unknown> = {
  "dataset.image_size": 64,
  "dataset.train_count": 300,
  "dataset.val_count": 60,
  "dataset.n_classes": 0,
  "hp.loss_impl": "auto",
};

/** Names of the configs compiled into the program (`loadConfig("potsdam")`). */
export const EMBEDDED_CONFIGS: Record<string, string> = {
  cocostuff27: cocostuff27Yaml,
  cityscapes: cityscapesYaml,
  potsdam: potsdamYaml,
  synthetic: syntheticYaml,
  ...DINOV2_CONFIGS,
};

// ---------------------------------------------------------------------------------------------------
// Validation

function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : v === null ? "null (empty)" : String(v);
}

/** Returns an error text for `value` at `key`, or null when it is valid. */
function checkValue(key: string, f: Field, value: unknown): string | null {
  switch (f.type) {
    case "int": {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return `${key} must be an integer, got ${describe(value)}`;
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
        return `${key} must be a number, got ${describe(value)}`;
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
      return typeof value === "string" ? null : `${key} must be a string, got ${describe(value)}`;
    case "bool":
      return typeof value === "boolean" ? null : `${key} must be true or false, got ${describe(value)}`;
    case "enum":
      return typeof value === "string" && f.values.includes(value)
        ? null
        : `${key} must be one of ${f.values.join(", ")}, got ${describe(value)}`;
  }
}

function suggest(key: string): string {
  const [section, name] = key.split(".");
  const same = Object.keys(CONFIG_SCHEMA).filter((k) =>
    k.endsWith(`.${name}`) || k.startsWith(`${section}.`)
  );
  return same.length ? ` (known: ${same.slice(0, 12).join(", ")})` : "";
}

/** Flat "section.key" → value map read from one YAML source, with line numbers for messages. */
interface Parsed {
  values: Map<string, unknown>;
  lines: Map<string, number>;
  extendsName: string | null;
}

function parseSource(text: string, where: string): Parsed {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line;
    const msg = e.message.split("\n")[0];
    throw new InputError(`Cannot parse config ${where}${line ? `:${line}` : ""}: invalid YAML: ${msg}`);
  }
  const out: Parsed = { values: new Map(), lines: new Map(), extendsName: null };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return out;
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined) =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
  const at = (line: number | undefined) => (line ? `:${line}` : "");
  if (!isMap(root)) {
    throw new InputError(`Invalid config ${where}: the top level must be a mapping of sections`);
  }
  for (const pair of (root as YAMLMap).items) {
    const section = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const kline = lineOf(pair.key as never);
    if (section === "extends") {
      const v = isScalar(pair.value) ? pair.value.value : undefined;
      if (typeof v !== "string" || !(v in EMBEDDED_CONFIGS)) {
        throw new InputError(
          `Invalid config ${where}${at(kline)}: extends must name an embedded config (${
            Object.keys(EMBEDDED_CONFIGS).join(", ")
          }), got ${describe(v)}`,
        );
      }
      out.extendsName = v;
      continue;
    }
    if (!Object.keys(CONFIG_SCHEMA).some((k) => k.startsWith(`${section}.`))) {
      throw new InputError(
        `Invalid config ${where}${
          at(kline)
        }: unknown section "${section}" (sections: dataset, backbone, head, hp, ` +
          `train, eval; or extends)`,
      );
    }
    if (!isMap(pair.value)) {
      throw new InputError(
        `Invalid config ${where}${at(kline)}: section "${section}" must be a mapping of keys`,
      );
    }
    for (const item of (pair.value as YAMLMap).items) {
      const name = isScalar(item.key) ? String(item.key.value) : String(item.key);
      const key = `${section}.${name}`;
      const line = lineOf(item.key as never);
      const field = CONFIG_SCHEMA[key];
      if (!field) {
        throw new InputError(`Invalid config ${where}${at(line)}: unknown key "${key}"${suggest(key)}`);
      }
      if (!isScalar(item.value)) {
        throw new InputError(
          `Invalid config ${where}${at(line)}: ${key} must be a single value, not a list or map`,
        );
      }
      const value = item.value.value;
      const err = checkValue(key, field, value);
      if (err) throw new InputError(`Invalid config ${where}${at(line)}: ${err}`);
      out.values.set(key, value);
      out.lines.set(key, line ?? 0);
    }
  }
  return out;
}

/** Builds the nested config from a complete flat map. */
function nest(flat: Map<string, unknown>): HpConfig {
  const cfg: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(CONFIG_SCHEMA)) {
    const [s, k] = key.split(".");
    (cfg[s] ??= {})[k] = flat.get(key);
  }
  return cfg as unknown as HpConfig;
}

/** Checks relations between keys. @throws InputError naming `where`. */
function checkRelations(cfg: HpConfig, where: string): void {
  const fail = (msg: string) => {
    throw new InputError(`Invalid config ${where}: ${msg}`);
  };
  const p = cfg.backbone.patch;
  dinov2ConfigRelations(cfg.backbone, fail);
  for (const key of ["train", "eval"] as const) {
    const r = cfg[key].res;
    if (r % p !== 0) {
      fail(`${key}.res ${r} is not a multiple of backbone.patch ${p}${nearestMultiples(r, p)}`);
    }
  }
  // What the training kernels support (core/limits.ts): P patches per crop, u32 indices over B·P rows.
  const P = (cfg.train.res / p) ** 2, B = cfg.train.batch;
  if (P > MAX_TRAIN_PATCHES) {
    fail(
      `train.res ${cfg.train.res} gives ${P} patches per crop with backbone.patch ${p}, over the ${MAX_TRAIN_PATCHES} ` +
        `the LHP kernel supports (train.res ≤ ${Math.floor(Math.sqrt(MAX_TRAIN_PATCHES)) * p})`,
    );
  }
  if (B * P * P >= 2 ** 32 || 9 * B * P >= 2 ** 24) {
    const maxB = Math.min(Math.ceil(2 ** 32 / (P * P)), Math.ceil(2 ** 24 / (9 * P))) - 1;
    fail(
      `train.batch ${B} at train.res ${cfg.train.res} is over the ${maxB} images the HP loss and LHP kernels index`,
    );
  }
  if (cfg.backbone.arch !== "embedded" && cfg.backbone.weights === "") {
    fail(`backbone.weights is empty; ${cfg.backbone.arch} needs a DINO checkpoint path`);
  }
  if (!["synthetic"].includes(cfg.dataset.name) && cfg.dataset.root === "") {
    fail(`dataset.root is empty; dataset ${cfg.dataset.name} needs its folder`);
  }
}

function parseOverride(o: string): [string, unknown] {
  const eq = o.indexOf("=");
  if (eq <= 0) throw new InputError(`Invalid --set ${JSON.stringify(o)}: expected section.key=value`);
  const key = o.slice(0, eq).trim();
  const raw = o.slice(eq + 1);
  const field = CONFIG_SCHEMA[key];
  if (!field) throw new InputError(`Invalid --set ${o}: unknown key "${key}"${suggest(key)}`);
  let value: unknown = raw;
  if (field.type !== "string") {
    try {
      value = parseYaml(raw);
    } catch {
      value = raw;
    }
  }
  const err = checkValue(key, field, value);
  if (err) throw new InputError(`Invalid --set ${o}: ${err}`);
  return [key, value];
}

/**
 * Loads a configuration: `pathOrName` is an embedded config name (cocostuff27, cityscapes, potsdam,
 * synthetic) or a YAML file path; `overrides` are "section.key=value" strings from `--set`, applied last.
 * @throws InputError naming the file, the key and the line for any invalid input.
 */
export function loadConfig(pathOrName: string, overrides: readonly string[] = []): HpConfig {
  let text: string, where: string;
  if (pathOrName in EMBEDDED_CONFIGS) {
    text = EMBEDDED_CONFIGS[pathOrName];
    where = `configs/${pathOrName}.yaml (embedded)`;
  } else {
    where = pathOrName;
    try {
      text = Deno.readTextFileSync(pathOrName);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
      throw new InputError(`Cannot read config ${pathOrName}: ${why}`, {
        hint: `give a YAML path or one of the embedded configs: ${Object.keys(EMBEDDED_CONFIGS).join(", ")}`,
      });
    }
  }
  const own = parseSource(text, where);
  const flat = new Map<string, unknown>(Object.entries(OPTIONAL_DEFAULTS));
  if (!(pathOrName in EMBEDDED_CONFIGS)) {
    const baseName = own.extendsName ?? "cocostuff27";
    const base = parseSource(EMBEDDED_CONFIGS[baseName], `configs/${baseName}.yaml (embedded)`);
    for (const [k, v] of base.values) flat.set(k, v);
  }
  for (const [k, v] of own.values) flat.set(k, v);
  for (const o of overrides) {
    const [k, v] = parseOverride(o);
    flat.set(k, v);
  }
  const missing = Object.keys(CONFIG_SCHEMA).filter((k) => !flat.has(k));
  if (missing.length) throw new InputError(`Invalid config ${where}: missing ${missing.join(", ")}`);
  const cfg = nest(flat);
  checkRelations(cfg, overrides.length ? `${where} with --set ${overrides.join(" ")}` : where);
  return cfg;
}

/**
 * Validates a config object (e.g. the one stored in a checkpoint's metadata) with the same rules.
 * @throws InputError naming `where` and the key.
 */
export function configFromObject(obj: unknown, where: string): HpConfig {
  if (typeof obj !== "object" || obj === null) {
    throw new InputError(`Invalid config in ${where}: not an object`);
  }
  const flat = new Map<string, unknown>();
  for (const [section, body] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof body !== "object" || body === null) {
      throw new InputError(`Invalid config in ${where}: section "${section}" is not an object`);
    }
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      const key = `${section}.${k}`;
      const field = CONFIG_SCHEMA[key];
      if (!field) throw new InputError(`Invalid config in ${where}: unknown key "${key}"`);
      const err = checkValue(key, field, v);
      if (err) throw new InputError(`Invalid config in ${where}: ${err}`);
      flat.set(key, v);
    }
  }
  const missing = Object.keys(CONFIG_SCHEMA).filter((k) => !flat.has(k));
  if (missing.length) throw new InputError(`Invalid config in ${where}: missing ${missing.join(", ")}`);
  const cfg = nest(flat);
  checkRelations(cfg, where);
  return cfg;
}

/** The config as YAML (for `<runDir>/config.yaml`); `loadConfig` of the result gives the same config. */
export function configToYaml(cfg: HpConfig, comment = "hpseg run configuration"): string {
  return `# ${comment}\n${stringify(cfg)}`;
}

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
import { MAX_TRAIN_PATCHES } from "../limits.ts";
import cocostuff27Yaml from "../../configs/cocostuff27.yaml" with { type: "text" };
import cityscapesYaml from "../../configs/cityscapes.yaml" with { type: "text" };
import potsdamYaml from "../../configs/potsdam.yaml" with { type: "text" };
import syntheticYaml from "../../configs/synthetic.yaml" with { type: "text" };
import { DINOV2_CONFIGS, dinov2ConfigRelations } from "./config_dinov2.ts";
import {
  ADDED_KEYS,
  checkValue,
  CONFIG_SCHEMA,
  describeValue as describe,
  type HpConfig,
  isHpConfig,
  OPTIONAL_DEFAULTS,
} from "./config_schema.ts";

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

/** Builds the nested config from a complete flat map of valid values. */
function nest(flat: Map<string, unknown>, where: string): HpConfig {
  const cfg: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(CONFIG_SCHEMA)) {
    const [s, k] = key.split(".");
    (cfg[s] ??= {})[k] = flat.get(key);
  }
  if (!isHpConfig(cfg)) throw new InputError(`Invalid config ${where}: it does not match the schema`);
  return cfg;
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
  if (cfg.dataset.packed && cfg.dataset.root === "") {
    fail("dataset.packed reads packed caches under dataset.root, which is empty");
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
  const cfg = nest(flat, where);
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
  const flat = new Map<string, unknown>(Object.entries(ADDED_KEYS));
  for (const [section, body] of Object.entries(obj)) {
    if (typeof body !== "object" || body === null) {
      throw new InputError(`Invalid config in ${where}: section "${section}" is not an object`);
    }
    for (const [k, v] of Object.entries(body)) {
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
  const cfg = nest(flat, `in ${where}`);
  checkRelations(cfg, where);
  return cfg;
}

/** The config as YAML (for `<runDir>/config.yaml`); `loadConfig` of the result gives the same config. */
export function configToYaml(cfg: HpConfig, comment = "hpseg run configuration"): string {
  return `# ${comment}\n${stringify(cfg)}`;
}

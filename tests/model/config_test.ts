/**
 * Configuration loading and validation (core/model/config.ts): the embedded official defaults (hp-method.md
 * §7), --set overrides, partial user files with `extends`, and one-line InputErrors naming file, key, line.
 */
import assert from "node:assert/strict";
import { assertInputError } from "../_util.ts";
import { configFromObject, configToYaml, EMBEDDED_CONFIGS, loadConfig } from "../../core/model/config.ts";
import { CONFIG_SCHEMA, type HpConfig } from "../../core/model/config_schema.ts";

function tmpYaml(text: string): string {
  const path = Deno.makeTempFileSync({ suffix: ".yaml" });
  Deno.writeTextFileSync(path, text);
  return path;
}

Deno.test("loadConfig() loads the embedded official defaults of hp-method.md §7", () => {
  const coco = loadConfig("cocostuff27"), city = loadConfig("cityscapes"), pots = loadConfig("potsdam");
  const row = (c: HpConfig) => [
    c.backbone.arch,
    c.backbone.patch,
    c.head.dim,
    c.hp.tau,
    c.hp.alpha,
    c.hp.rho,
    c.hp.pool_size,
    c.hp.renew_interval,
    c.hp.ema_momentum,
    c.hp.lambda_warmup,
    c.train.epochs,
    c.eval.valid_freq,
  ];
  assert.deepEqual(row(coco), ["vit_small", 8, 512, 0.8, 0.05, 0.02, 2048, 100, 0.99, 1000, 3, 100]);
  assert.deepEqual(row(city), ["vit_small", 8, 512, 0.6, 0.05, 0.02, 2048, 20, 0.999, 50, 30, 100]);
  assert.deepEqual(row(pots), ["vit_base", 8, 256, 0.4, 0, 1, 1024, 20, 0.999, 100, 10, 50]);
  for (const c of [coco, city, pots]) {
    assert.deepEqual(
      [c.train.batch, c.train.res, c.eval.res, c.train.lr, c.train.weight_decay, c.train.clip],
      [64, 224, 320, 5e-4, 0.1, 10],
    );
    assert.deepEqual([c.train.proj_lr, c.train.linear_lr, c.train.cluster_lr], [5e-4, 1e-3, 5e-3]);
    assert.deepEqual([c.train.seed, c.hp.tau_base, c.hp.sigma, c.head.dropout], [0, 0.07, 28, 0.1]);
  }
  assert.equal(loadConfig("synthetic").backbone.arch, "embedded");
  // Every embedded file sets every schema key that applies to it (no silent defaults for the official ones).
  for (const [name, text] of Object.entries(EMBEDDED_CONFIGS)) {
    for (const key of Object.keys(CONFIG_SCHEMA)) {
      if (
        key.startsWith("dataset.") && !["dataset.name", "dataset.root", "dataset.five_crop"].includes(key)
      ) continue;
      assert.ok(text.includes(`${key.split(".")[1]}:`), `${name} lacks ${key}`);
    }
  }
});

Deno.test("loadConfig() applies --set overrides with YAML scalar typing", () => {
  const c = loadConfig("cocostuff27", [
    "hp.tau=0.5",
    "train.aug_mode=clean",
    "dataset.root=123",
    "eval.crf=false",
  ]);
  assert.equal(c.hp.tau, 0.5);
  assert.equal(c.train.aug_mode, "clean");
  assert.equal(c.dataset.root, "123");
  assert.equal(c.eval.crf, false);
  assertInputError(() => loadConfig("cocostuff27", ["hp.tauu=1"]), "--set", "hp.tauu");
  assertInputError(() => loadConfig("cocostuff27", ["hp.tau=abc"]), "hp.tau must be a number", '"abc"');
  assertInputError(() => loadConfig("cocostuff27", ["hp.rho=1.5"]), "hp.rho must be in [0, 1], got 1.5");
  assertInputError(() => loadConfig("cocostuff27", ["train.batch=2.5"]), "train.batch must be an integer");
  assertInputError(() => loadConfig("cocostuff27", ["hp.tau"]), "expected section.key=value");
  assertInputError(() => loadConfig("cocostuff27", ["train.res=225"]), "train.res 225 is not a multiple");
});

Deno.test("loadConfig() reads a partial user file on top of its extends base", () => {
  const path = tmpYaml("extends: potsdam\nhp:\n  tau: 0.3\n");
  const path2 = tmpYaml("train:\n  epochs: 1\n");
  try {
    const c = loadConfig(path);
    assert.equal(c.hp.tau, 0.3);
    assert.equal(c.hp.pool_size, 1024); // from potsdam
    const d = loadConfig(path2);
    assert.equal(d.hp.pool_size, 2048); // default base cocostuff27
    assert.equal(d.train.epochs, 1);
  } finally {
    Deno.removeSync(path);
    Deno.removeSync(path2);
  }
});

Deno.test("loadConfig() names the file, key and line of an invalid value", () => {
  const cases: Array<[string, (string | RegExp)[]]> = [
    ["hp:\n  tau: 0.8\n  taw: 1\n", [":3", 'unknown key "hp.taw"']],
    ["hp:\n  tau: -1\n", [":2", "hp.tau must be in (0, 100], got -1"]],
    ["train:\n  batch: sixty\n", [":2", "train.batch must be an integer", '"sixty"']],
    ["optim:\n  lr: 1\n", [":1", 'unknown section "optim"']],
    ["eval:\n  selection: best\n", [":2", "eval.selection must be one of val, last"]],
    ["hp: 3\n", ['section "hp" must be a mapping']],
    ["hp:\n  tau: [1, 2]\n", ["hp.tau must be a single value"]],
    ["extends: imagenet\n", ["extends must name an embedded config"]],
    ["hp:\n  tau: 0.8\n  tau: 0.7\n", ["invalid YAML"]],
    ["hp:\n  tau: 0.8\n bad indent: [\n", ["Cannot parse config", "invalid YAML"]],
  ];
  for (const [text, parts] of cases) {
    const path = tmpYaml(text);
    try {
      assertInputError(() => loadConfig(path), path, ...parts);
    } finally {
      Deno.removeSync(path);
    }
  }
  assertInputError(
    () => loadConfig("/nonexistent/x.yaml"),
    "Cannot read config /nonexistent/x.yaml",
    "not found",
  );
});

Deno.test("configToYaml() and configFromObject() round-trip a config", () => {
  const c = loadConfig("cityscapes", ["hp.tau=0.65"]);
  const path = tmpYaml(configToYaml(c));
  try {
    assert.deepEqual(loadConfig(path), c);
  } finally {
    Deno.removeSync(path);
  }
  assert.deepEqual(configFromObject(JSON.parse(JSON.stringify(c)), "ckpt.safetensors"), c);
  const bad = JSON.parse(JSON.stringify(c));
  bad.hp.ema_momentum = 2;
  assertInputError(() => configFromObject(bad, "ckpt.safetensors"), "ckpt.safetensors", "hp.ema_momentum");
  delete bad.hp;
  assertInputError(() => configFromObject(bad, "ckpt.safetensors"), "missing hp.tau");
});

Deno.test("backbone.precision: auto by default, f32/f16 accepted, others refused; older stored configs mean f32", () => {
  assert.equal(loadConfig("synthetic").backbone.precision, "auto");
  assert.equal(loadConfig("cocostuff27", ["backbone.precision=f16"]).backbone.precision, "f16");
  assert.equal(loadConfig("cocostuff27", ["backbone.precision=f32"]).backbone.precision, "f32");
  assertInputError(
    () => loadConfig("cocostuff27", ["backbone.precision=bf16"]),
    'backbone.precision must be one of auto, f32, f16, got "bf16"',
  );
  // A user file that leaves the key out gets the default.
  const path = tmpYaml("extends: synthetic\nbackbone:\n  arch: embedded\n");
  try {
    assert.equal(loadConfig(path).backbone.precision, "auto");
  } finally {
    Deno.removeSync(path);
  }
  // A checkpoint's config from before the key: those runs were f32.
  const old = JSON.parse(JSON.stringify(loadConfig("synthetic")));
  delete old.backbone.precision;
  assert.equal(configFromObject(old, "old.safetensors").backbone.precision, "f32");
});

/**
 * The dataset section of the config reaches the data the run opens (core/train/run_data.ts datasetOptions):
 * `dataset.packed` opens the packed caches `prepare --pack` wrote (train at train.res, val at eval.res), and
 * `dataset.workers` sets the loader Workers unless `--workers` overrides it. Old stored configs without
 * these keys load with the values that mean what those runs did.
 * @module
 */
import assert from "node:assert/strict";
import { configFromObject, loadConfig } from "../../core/model/config.ts";
import { datasetOptions, loaderWorkerCount } from "../../core/train/run_data.ts";
import { defaultLoaderWorkers } from "../../core/data/loader.ts";
import { openDataset } from "../../datasets/registry.ts";
import { prepareDataset } from "../../datasets/prepare.ts";
import { assertInputError } from "../_util.ts";

Deno.test("dataset.packed opens the packed caches at train.res and eval.res", async () => {
  const root = await Deno.makeTempDir({ prefix: "hpseg-packed-config-" });
  try {
    await prepareDataset({
      dataset: "synthetic",
      root,
      pack: true,
      size: 32,
      valSize: 48,
      synthetic: { imageSize: 64, trainCount: 6, valCount: 3, seed: 0 },
    });
    const sets = [`dataset.root=${root}`, "train.res=32", "eval.res=48"];
    const packed = loadConfig("synthetic", [...sets, "dataset.packed=true"]);
    assert.equal(datasetOptions(packed, "train").packedSize, 32);
    assert.equal(datasetOptions(packed, "val").packedSize, 48);
    const train = await openDataset(datasetOptions(packed, "train"));
    const val = await openDataset(datasetOptions(packed, "val"));
    assert.deepEqual([train.fixedSize, train.length, val.fixedSize, val.length], [32, 6, 48, 3]);
    // Without the key the same root is read from its PNGs.
    const plain = await openDataset(datasetOptions(loadConfig("synthetic", sets), "train"));
    assert.equal(plain.fixedSize, undefined);
    assert.equal(datasetOptions(loadConfig("synthetic", sets), "train").packedSize, undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dataset.packed without a root and bad dataset.workers values are one-line config errors", () => {
  assertInputError(() => loadConfig("synthetic", ["dataset.packed=true"]), /dataset\.packed .*dataset\.root/);
  assertInputError(
    () => loadConfig("synthetic", ["dataset.workers=many"]),
    /dataset\.workers must be an integer or auto/,
  );
  assertInputError(
    () => loadConfig("synthetic", ["dataset.workers=65"]),
    /dataset\.workers must be in \[0, 64\]/,
  );
  assert.equal(loadConfig("synthetic").dataset.workers, "auto");
  assert.equal(loadConfig("synthetic", ["dataset.workers=3"]).dataset.workers, 3);
});

Deno.test("a stored config from before dataset.packed and dataset.workers loads with their old meaning", () => {
  const cfg = loadConfig("cocostuff27", ["dataset.root=/data/coco", "backbone.weights=w.pth"]);
  const { packed: _p, workers: _w, ...oldDataset } = cfg.dataset;
  const old = configFromObject({ ...cfg, dataset: oldDataset }, "old checkpoint");
  assert.equal(old.dataset.packed, false);
  assert.equal(old.dataset.workers, "auto");
  assert.deepEqual(old, cfg);
});

Deno.test("dataset.workers sets the loader Workers; --workers overrides it; auto keeps the old defaults", () => {
  const coco = (sets: string[] = []) =>
    loadConfig("cocostuff27", ["dataset.root=/data/coco", "backbone.weights=w.pth", ...sets]);
  assert.equal(loaderWorkerCount(loadConfig("synthetic")), 0);
  assert.equal(loaderWorkerCount(coco()), defaultLoaderWorkers("cocostuff27"));
  assert.equal(loaderWorkerCount(coco(["dataset.workers=3"])), 3);
  assert.equal(loaderWorkerCount(loadConfig("synthetic", ["dataset.workers=2"])), 2);
  assert.equal(loaderWorkerCount(coco(["dataset.workers=3"]), 1), 1);
  assert.equal(loaderWorkerCount(coco(), 0), 0);
});

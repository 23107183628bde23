/**
 * What a run opens from its config: the dataset options of each split (packed caches at train.res or
 * eval.res, five-crops for training only, the synthetic set's sizes) and how many loader Workers read them.
 * @module
 */
import type { DatasetOptions } from "../../datasets/dataset.ts";
import { defaultLoaderWorkers } from "../data/loader.ts";
import type { HpConfig } from "../model/config_schema.ts";

/** Loader Workers of a run: `--workers` when given, else dataset.workers (auto: {@link defaultLoaderWorkers}). */
export function loaderWorkerCount(cfg: HpConfig, override?: number): number {
  const w = cfg.dataset.workers;
  return override ?? (w === "auto" ? defaultLoaderWorkers(cfg.dataset.name) : w);
}

/** What the run opens for `split`, from the config's dataset section (and train.res / eval.res for packs). */
export function datasetOptions(cfg: HpConfig, split: "train" | "val"): DatasetOptions {
  const d = cfg.dataset;
  return {
    packedSize: d.packed ? (split === "train" ? cfg.train.res : cfg.eval.res) : undefined,
    dataset: d.name,
    root: d.root || undefined,
    split,
    fiveCrop: d.name === "synthetic" ? undefined : (split === "train" ? d.five_crop : false),
    imageSize: d.name === "synthetic" ? d.image_size : undefined,
    count: d.name === "synthetic" ? (split === "train" ? d.train_count : d.val_count) : undefined,
    seed: d.name === "synthetic" ? 0 : undefined,
    nClasses: d.name === "folder" && d.n_classes > 0 ? d.n_classes : undefined,
  };
}

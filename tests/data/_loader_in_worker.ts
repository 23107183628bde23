/** Test helper: runs a Loader (with its own Workers) inside a Worker, as the trainer does. */
/// <reference lib="deno.worker" />
import { Loader } from "../../core/data/loader.ts";
import { openDataset } from "../../datasets/registry.ts";

self.onmessage = async (ev: MessageEvent<{ workers: number }>) => {
  const ds = await openDataset({ dataset: "synthetic", split: "train", count: 8, imageSize: 16 });
  const l = new Loader(ds, { batch: 4, size: 16, seed: 9, workers: ev.data.workers, augment: true });
  const out: number[][] = [];
  for await (const b of l.epoch(0)) out.push([...b.indices, b.images[17], b.augImages![33], b.labels[5]]);
  l.close();
  self.postMessage(out);
};

/**
 * `deno task bench data [--json] [--quick]`: loader throughput in images/s for 224×224 crops with the
 * photometric augmentation (hp-method.md §3), in-process and with 1 and N Web Workers.
 *
 * Sources: temporary folders of 320×240 scenes as JPEG (quality 75, as five-crops are stored) and as PNG
 * (decode + nearest resize + centre crop + normalise + augmentation: the full per-image path), and the
 * in-memory synthetic scenes at 256×256. Worker start-up is excluded (one warm-up epoch first).
 */
import type { BenchOptions } from "./suite.ts";
import { Loader } from "../data/loader.ts";
import { type SegDataset } from "../../datasets/dataset.ts";
import { openDataset } from "../../datasets/registry.ts";
import { generateScene } from "../../datasets/synthetic.ts";
import { encodeJpeg, encodeRgbPng } from "../image/codecs.ts";

async function throughput(ds: SegDataset, workers: number): Promise<number> {
  const l = new Loader(ds, { batch: 8, size: 224, seed: 0, workers, augment: true, augMode: "reference" });
  try {
    for await (const _ of l.epoch(0)); // warm-up epoch: workers started, code compiled
    const t0 = performance.now();
    let n = 0;
    for await (const batch of l.epoch(1)) n += batch.indices.length;
    return n / ((performance.now() - t0) / 1000);
  } finally {
    l.close();
  }
}

export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const N = Math.max(2, Math.min(8, navigator.hardwareConcurrency ?? 2));
  const count = opts.quick ? 16 : 48;
  const dir = await Deno.makeTempDir({ prefix: "hpseg_databench_" });
  const results: Record<string, Record<string, number>> = {};
  try {
    await Deno.mkdir(`${dir}/png/images`, { recursive: true });
    await Deno.mkdir(`${dir}/jpeg/images`, { recursive: true });
    for (let i = 0; i < count; i++) {
      const s = generateScene(0, "train", i, 320);
      // 320×240: crop the square scene's bottom rows away so the resize path is not a no-op
      const img = { width: 320, height: 240, data: s.image.subarray(0, 320 * 240 * 3) };
      const name = String(i).padStart(4, "0");
      await Deno.writeFile(`${dir}/png/images/${name}.png`, encodeRgbPng(img));
      await Deno.writeFile(`${dir}/jpeg/images/${name}.jpg`, await encodeJpeg(img, 75));
    }
    const sources: [string, SegDataset][] = [
      ["jpeg_320x240", await openDataset({ dataset: "folder", root: `${dir}/jpeg`, split: "train" })],
      ["png_320x240", await openDataset({ dataset: "folder", root: `${dir}/png`, split: "train" })],
      ["synthetic_256", await openDataset({ dataset: "synthetic", split: "train", count, imageSize: 256 })],
    ];
    for (const [name, ds] of sources) {
      results[name] = {};
      for (const w of [0, 1, N]) {
        const ips = await throughput(ds, w);
        results[name][`workers_${w}`] = Math.round(ips * 10) / 10;
        if (!opts.json) {
          console.log(`${name.padEnd(14)} workers=${w}: ${ips.toFixed(1)} images/s (224 crops + aug)`);
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return {
    suite: "data",
    unit: "images/s",
    size: 224,
    augment: "reference",
    cores: navigator.hardwareConcurrency,
    results,
  };
}

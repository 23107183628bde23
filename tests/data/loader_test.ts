/**
 * Loader (core/data/loader.ts): order and content are a function of the seed only (0, 1 or 2 workers give
 * identical batches), resume at a batch index, drop_last, and batch content equals the documented
 * transform + augmentation.
 */
import assert, { deepStrictEqual } from "node:assert/strict";
import { type Batch, defaultLoaderWorkers, Loader, LoaderWorkers } from "../../core/data/loader.ts";
import { type SegDataset } from "../../datasets/dataset.ts";
import { openDataset } from "../../datasets/registry.ts";
import { evalTransform, normalizeImageNet } from "../../core/image/transforms.ts";
import { augRng } from "../../core/data/batch.ts";
import { applyAug, sampleAugParams } from "../../core/data/augment.ts";

async function collect(l: Loader, e: number, start = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of l.epoch(e, start)) out.push(b);
  return out;
}

const opts = { batch: 4, size: 16, seed: 11, augment: true } as const;

Deno.test("Loader: identical batches with 0, 1 and 2 workers; resumable; shuffled per epoch", async () => {
  const ds = await openDataset({ dataset: "synthetic", split: "train", count: 18, imageSize: 20 });
  const ref = new Loader(ds, { ...opts, workers: 0 });
  assert.equal(ref.batchesPerEpoch, 4); // drop_last: 18 / 4
  const e1 = await collect(ref, 1);
  const e2 = await collect(ref, 2);
  assert.notDeepStrictEqual(e1.map((b) => b.indices), e2.map((b) => b.indices));
  const seen = e1.flatMap((b) => b.indices);
  assert.equal(new Set(seen).size, 16);
  for (const workers of [1, 2]) {
    const l = new Loader(ds, { ...opts, workers });
    try {
      deepStrictEqual(await collect(l, 1), e1, `${workers} workers`);
      deepStrictEqual(await collect(l, 1, 2), e1.slice(2), `${workers} workers, resumed at batch 2`);
    } finally {
      l.close();
    }
  }
  const keep = new Loader(ds, { ...opts, dropLast: false, shuffle: false });
  const all = await collect(keep, 0);
  assert.equal(all.length, 5);
  deepStrictEqual(all[4].indices, [16, 17]);
  assert.equal(all[4].images.length, 2 * 3 * 16 * 16);
});

Deno.test("Loader: batch content is the eval transform + normalisation, and the seeded augmentation", async () => {
  const ds = await openDataset({ dataset: "synthetic", split: "val", count: 4, imageSize: 24 });
  const l = new Loader(ds, {
    batch: 2,
    size: 16,
    seed: 3,
    augment: true,
    augMode: "reference",
    shuffle: false,
  });
  const [b] = await collect(l, 5);
  const P = 16 * 16;
  for (let k = 0; k < 2; k++) {
    const s = await ds.get(b.indices[k]);
    const img = evalTransform(s.image, 16);
    const x = normalizeImageNet(img);
    deepStrictEqual(b.images.subarray(k * 3 * P, (k + 1) * 3 * P), x);
    applyAug(x, 16, 16, sampleAugParams(augRng(3, 5, b.indices[k])), "reference");
    deepStrictEqual(b.augImages!.subarray(k * 3 * P, (k + 1) * 3 * P), x);
  }
  const clean = new Loader(ds, {
    batch: 2,
    size: 16,
    seed: 3,
    augment: true,
    augMode: "clean",
    shuffle: false,
  });
  const [c] = await collect(clean, 5);
  deepStrictEqual(c.images, b.images);
  assert.notDeepStrictEqual(c.augImages, b.augImages);
});

Deno.test("Loader: datasets without a spec run in-process; worker errors surface as errors", async () => {
  const mem: SegDataset = {
    name: "mem",
    nClasses: 2,
    classNames: ["a", "b"],
    length: 3,
    get: (i) =>
      Promise.resolve({
        name: String(i),
        image: { width: 4, height: 6, data: new Uint8Array(72).fill(i * 50) },
        label: null,
      }),
  };
  const l = new Loader(mem, { batch: 3, size: 4, seed: 0, workers: 2 });
  const [b] = await collect(l, 0);
  assert(b.labels.every((v) => v === -1));
  const broken = await openDataset({
    dataset: "cityscapes",
    root: new URL("../fixtures/datasets/cityscapes", import.meta.url).pathname,
    split: "train",
    fiveCrop: false,
  });
  const bad = new Loader({ ...broken, spec: { ...broken.spec!, root: "/nonexistent" } }, {
    batch: 1,
    size: 8,
    seed: 0,
    workers: 1,
  });
  try {
    await assert.rejects(collect(bad, 0), /nonexistent/);
  } finally {
    bad.close();
  }
});

Deno.test("Loader: runs inside a Worker with nested loader Workers (the trainer's setup)", async () => {
  const w = new Worker(new URL("./_loader_in_worker.ts", import.meta.url), { type: "module" });
  try {
    const got = await new Promise<number[][]>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      w.postMessage({ workers: 1 });
    });
    const ds = await openDataset({ dataset: "synthetic", split: "train", count: 8, imageSize: 16 });
    const l = new Loader(ds, { batch: 4, size: 16, seed: 9, augment: true });
    const want: number[][] = [];
    for await (const b of l.epoch(0)) want.push([...b.indices, b.images[17], b.augImages![33], b.labels[5]]);
    deepStrictEqual(got, want);
  } finally {
    w.terminate();
  }
});

Deno.test("Loader: options given as undefined take their defaults; a bad augMode is refused", async () => {
  const ds = await openDataset({ dataset: "synthetic", split: "val", count: 4, imageSize: 8 });
  const a = new Loader(ds, {
    batch: 2,
    size: 8,
    seed: 1,
    augment: true,
    augMode: undefined,
    prefetch: undefined,
  });
  const b = new Loader(ds, { batch: 2, size: 8, seed: 1, augment: true, augMode: "reference" });
  deepStrictEqual(await collect(a, 0), await collect(b, 0));
  assert.throws(() => new Loader(ds, { batch: 2, size: 8, seed: 1, augMode: "nope" as "clean" }), /augMode/);
});

Deno.test("defaultLoaderWorkers: 0 for synthetic, else min(cores − 1, 4) ≥ 1; same batches as in-process", async () => {
  deepStrictEqual([1, 2, 8].map((c) => defaultLoaderWorkers("synthetic", c)), [0, 0, 0]);
  deepStrictEqual([1, 2, 3, 5, 6, 64].map((c) => defaultLoaderWorkers("cocostuff27", c)), [1, 1, 2, 4, 4, 4]);
  assert(defaultLoaderWorkers("folder") >= 1);
  // The default for on-disk data (JPEG + label PNG decoding in Workers) gives the in-process bytes.
  const coco = await openDataset({
    dataset: "cocostuff27",
    root: new URL("../fixtures/datasets/coco", import.meta.url).pathname,
    split: "train",
    fiveCrop: false,
  });
  const o = { batch: 1, size: 24, seed: 5, augment: true } as const;
  const ref = await collect(new Loader(coco, { ...o, workers: 0 }), 3);
  const l = new Loader(coco, { ...o, workers: defaultLoaderWorkers("cocostuff27", 3) });
  try {
    deepStrictEqual(await collect(l, 3), ref);
  } finally {
    l.close();
  }
  await assert.rejects(collect(l, 3), /closed/);
});

Deno.test("LoaderWorkers: one set of Workers serves several loaders and datasets with in-process bytes", async () => {
  const train = await openDataset({ dataset: "synthetic", split: "train", count: 12, imageSize: 20 });
  const val = await openDataset({ dataset: "synthetic", split: "val", count: 6, imageSize: 20 });
  const pool = new LoaderWorkers(2);
  try {
    const cases = [
      [train, { ...opts }],
      [train, { ...opts, seed: 99, augment: false }],
      [val, { batch: 4, size: 12, seed: 0, shuffle: false, dropLast: false }],
      [val, { batch: 2, size: 12, seed: 0, indices: [5, 1, 3] }],
    ] as const;
    for (const [ds, o] of cases) {
      const want = await collect(new Loader(ds, { ...o, workers: 0 }), 2);
      const shared = new Loader(ds, { ...o, pool });
      deepStrictEqual(await collect(shared, 2), want, JSON.stringify(o));
      shared.close(); // leaves the shared Workers running
    }
    const subset = new Loader(val, { batch: 2, size: 12, seed: 0, indices: [5, 1, 3], dropLast: false });
    deepStrictEqual(
      (await collect(subset, 0)).map((b) => b.indices),
      [[5, 1], [3]],
      "given order, no shuffle",
    );
    assert.throws(() => new Loader(val, { batch: 2, size: 12, seed: 0, indices: [6] }), /index 6 outside/);
  } finally {
    pool.close();
  }
});

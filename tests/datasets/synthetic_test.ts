/**
 * Synthetic scenes (datasets/synthetic.ts): determinism, class coverage, texture (not colour) carrying the
 * class, region sizes, and on-disk layout = in-memory scenes.
 */
import assert, { deepStrictEqual } from "node:assert/strict";
import { generateScene } from "../../datasets/synthetic.ts";
import { SYNTHETIC_CLASSES } from "../../datasets/layouts.ts";
import { openDataset } from "../../datasets/registry.ts";
import { prepareDataset } from "../../datasets/prepare.ts";

Deno.test("synthetic scenes are deterministic, differ per index/split/seed and cost about a millisecond", () => {
  const a = generateScene(0, "train", 3, 64), b = generateScene(0, "train", 3, 64);
  deepStrictEqual(a, b);
  assert.notDeepStrictEqual(generateScene(0, "train", 4, 64).image, a.image);
  assert.notDeepStrictEqual(generateScene(0, "val", 3, 64).image, a.image);
  assert.notDeepStrictEqual(generateScene(1, "train", 3, 64).image, a.image);
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) generateScene(0, "train", i, 64);
  const ms = (performance.now() - t0) / 50;
  assert(ms < 20, `${ms} ms per 64x64 scene`);
});

Deno.test("synthetic: ≥ 6 balanced classes, colour is not the cue, regions span several 8x8 patches", () => {
  const n = SYNTHETIC_CLASSES.length, S = 64, N = 120;
  assert(n >= 6);
  const pixels = new Array(n).fill(0);
  const colours: Set<string>[] = Array.from({ length: n }, () => new Set());
  const fullPatches = new Array(n).fill(0);
  for (let i = 0; i < N; i++) {
    const { image, label } = generateScene(0, "train", i, S);
    for (let p = 0; p < S * S; p++) {
      pixels[label[p]]++;
      // coarse colour bucket of each pixel: a class must show many of them across instances
      colours[label[p]].add([0, 1, 2].map((c) => image[p * 3 + c] >> 6).join(","));
    }
    for (let py = 0; py < S; py += 8) {
      for (let px = 0; px < S; px += 8) {
        const c = label[py * S + px];
        let pure = true;
        for (let y = 0; y < 8 && pure; y++) {
          for (let x = 0; x < 8; x++) if (label[(py + y) * S + px + x] !== c) pure = false;
        }
        if (pure) fullPatches[c]++;
      }
    }
  }
  const total = N * S * S;
  for (let c = 0; c < n; c++) {
    assert(pixels[c] / total > 0.5 / n, `class ${SYNTHETIC_CLASSES[c]} covers ${pixels[c] / total}`);
    assert(
      colours[c].size >= 8,
      `class ${SYNTHETIC_CLASSES[c]} shows only ${colours[c].size} colour buckets`,
    );
    assert(fullPatches[c] > 0.3 * (pixels[c] / 64), `class ${SYNTHETIC_CLASSES[c]}: few whole 8x8 patches`);
  }
});

Deno.test("synthetic written by prepare reads back identical to the in-memory scenes (and five-crops)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hpseg_syn_" });
  try {
    const p = { imageSize: 24, trainCount: 4, valCount: 2, seed: 5 };
    await prepareDataset({ dataset: "synthetic", root: dir, synthetic: p });
    for (const split of ["train", "val"] as const) {
      const disk = await openDataset({ dataset: "synthetic", root: dir, split });
      const mem = await openDataset({
        dataset: "synthetic",
        split,
        imageSize: 24,
        count: split === "train" ? 4 : 2,
        seed: 5,
      });
      assert.equal(disk.length, mem.length);
      for (let i = 0; i < disk.length; i++) {
        const a = await disk.get(i), b = await mem.get(i);
        deepStrictEqual(a.image, b.image);
        deepStrictEqual(Array.from(a.label!), Array.from(b.label!));
      }
    }
    const crops = await openDataset({ dataset: "synthetic", root: dir, split: "train", fiveCrop: true });
    assert.equal(crops.length, 20);
    const memCrops = await openDataset({
      dataset: "synthetic",
      split: "train",
      imageSize: 24,
      count: 4,
      seed: 5,
      fiveCrop: true,
    });
    for (const k of [0, 6, 19]) {
      deepStrictEqual(Array.from((await crops.get(k)).label!), Array.from((await memCrops.get(k)).label!));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

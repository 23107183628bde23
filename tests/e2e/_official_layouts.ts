/**
 * Writes small datasets in the official on-disk layouts (hp-method.md §9), with real image files, for the
 * end-to-end tests that run the commands a user runs:
 * - COCO-Stuff: `images/{train2017,val2017}/<12-digit id>.jpg` (JPEGs from our baseline encoder, 4:2:0),
 *   `annotations/…/<id>.png` holding FINE ids (each region a random fine id of its coarse class, so the
 *   182 → 27 table is exercised, plus a band of 255 = unlabeled), and the two curated lists;
 * - Cityscapes: `leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png` and
 *   `gtFine/…/<…>_gtFine_labelIds.png` holding labelIds 7–33 (class + 7) with 0–6 and 255 (ignored) bands;
 * - a folder of JPEGs: `images/{train,val}/…` in nested sub-folders — two validation images share a base
 *   name in different folders — with `labels/` (8-bit class ids, 255 = ignore) and `classes.txt`; one
 *   training image is a CMYK JPEG (tests/fixtures/real_data/cmyk.jpg), which only the shared WASM decoder
 *   reads, so the loader Workers must be allowed to load it.
 * Image content is the synthetic texture scenes (datasets/synthetic.ts), cropped to a non-square size so
 * full-size predictions are checked at another aspect ratio. Every generator returns the class-id label
 * maps it wrote (−1 = ignore) per validation image, keyed by the image's path relative to the split's
 * image folder, as the independent ground truth of the scoring checks.
 * @module
 */
import { join } from "node:path";
import { encodeGrayPng, encodeJpeg } from "../../core/image/codecs.ts";
import { encodePng } from "../../core/image/png.ts";
import { generateScene } from "../../datasets/synthetic.ts";
import { SYNTHETIC_CLASSES } from "../../datasets/layouts.ts";
import { COCO_FINE_TO_COARSE } from "../../datasets/cocostuff27.ts";
import { Rng } from "../../core/rng.ts";

/** Ground truth of a generated validation split: relative image path → class ids (−1 = ignore). */
export type TruthMaps = Map<string, { width: number; height: number; classes: Int32Array }>;

/** A scene cropped to w×h (top-left of a square scene of side max(w, h)). */
function scene(split: "train" | "val", index: number, w: number, h: number, seed: number) {
  const side = Math.max(w, h);
  const s = generateScene(seed, split, index, side);
  const image = new Uint8Array(w * h * 3), label = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      image.set(s.image.subarray((y * side + x) * 3, (y * side + x) * 3 + 3), (y * w + x) * 3);
      label[y * w + x] = s.label[y * side + x];
    }
  }
  return { image, label };
}

async function write(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeFile(path, bytes);
}

/** Synthetic class → COCO-Stuff coarse class (person, sky, plant, building, vehicle, ground, water). */
const COCO_COARSE = [9, 23, 22, 20, 11, 21, 26];

/**
 * COCO-Stuff under `root`: `train` and `val` images of `width`×`height`; returns the validation truth in
 * the 27 coarse classes.
 */
export async function writeCocoStuff(root: string, train = 4, val = 3, width = 64, height = 40) {
  const truth: TruthMaps = new Map();
  const fineOf = COCO_COARSE.map((c) => [...COCO_FINE_TO_COARSE].flatMap((v, f) => (v === c ? [f] : [])));
  const rng = new Rng(27);
  for (
    const [split, count, dir, list] of [
      ["train", train, "train2017", "Coco164kFull_Stuff_Coarse.txt"],
      ["val", val, "val2017", "Coco164kFull_Stuff_Coarse_7.txt"],
    ] as const
  ) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = String(1000 + 7 * i + (split === "val" ? 500 : 0)).padStart(12, "0");
      ids.push(id);
      const { image, label } = scene(split, i, width, height, 3);
      // Each synthetic class becomes one fine id of its coarse class, drawn per image.
      const fine = COCO_COARSE.map((_, c) => fineOf[c][rng.int(fineOf[c].length)]);
      const raw = new Uint8Array(width * height), classes = new Int32Array(width * height);
      for (let p = 0; p < raw.length; p++) {
        const unlabeled = Math.floor(p / width) === height - 1; // bottom row: 255
        raw[p] = unlabeled ? 255 : fine[label[p]];
        classes[p] = unlabeled ? -1 : COCO_COARSE[label[p]];
      }
      await write(
        join(root, "images", dir, `${id}.jpg`),
        await encodeJpeg({ width, height, data: image }, 90),
      );
      await write(join(root, "annotations", dir, `${id}.png`), encodeGrayPng(width, height, raw));
      if (split === "val") truth.set(`${id}.jpg`, { width, height, classes });
    }
    await write(join(root, "curated", dir, list), new TextEncoder().encode(ids.join("\n") + "\n"));
  }
  return truth;
}

/** Cityscapes under `root` (PNG images as distributed); returns the validation truth (labelId − 7). */
export async function writeCityscapes(root: string, width = 64, height = 32) {
  const truth: TruthMaps = new Map();
  const cities = { train: ["aachen", "bremen"], val: ["frankfurt"] } as const;
  for (const split of ["train", "val"] as const) {
    let index = 0;
    for (const city of cities[split]) {
      const frames = split === "train" ? 2 : 3;
      for (let f = 0; f < frames; f++, index++) {
        const base = `${city}_000000_${String(19 + f).padStart(6, "0")}`;
        const { image, label } = scene(split, index, width, height, 5);
        const ids = new Uint8Array(width * height), classes = new Int32Array(width * height);
        for (let p = 0; p < ids.length; p++) {
          const row = Math.floor(p / width);
          // Synthetic classes as labelIds 7 + 2c (road, parking, building, fence, bridge, pole, traffic
          // light); the top row ego-vehicle (1) and the bottom row 255, both ignored.
          const id = row === 0 ? 1 : row === height - 1 ? 255 : 7 + 2 * label[p];
          ids[p] = id;
          classes[p] = id >= 7 && id <= 33 ? id - 7 : -1;
        }
        const rel = `${city}/${base}_leftImg8bit.png`;
        await write(join(root, "leftImg8bit", split, rel), encodePng(width, height, 3, image));
        await write(
          join(root, "gtFine", split, city, `${base}_gtFine_labelIds.png`),
          encodeGrayPng(width, height, ids),
        );
        if (split === "val") truth.set(rel, { width, height, classes });
      }
    }
  }
  return truth;
}

/**
 * A folder of JPEGs under `root` (`images/{train,val}/…`, `labels/`, `classes.txt`) with mixed sizes; two
 * validation images are `a/000.jpg` and `b/000.jpg`. Returns the validation truth.
 */
export async function writeJpegFolder(root: string, train = 12) {
  const truth: TruthMaps = new Map();
  const files = {
    train: Array.from({ length: train }, (_, i) => `${["street", "park"][i % 2]}/img_${i}.jpg`),
    val: ["a/000.jpg", "b/000.jpg", "c/wide.jpg"],
  };
  const sizes = [[48, 48], [56, 40], [40, 56]];
  for (const split of ["train", "val"] as const) {
    for (let i = 0; i < files[split].length; i++) {
      const rel = files[split][i];
      const [w, h] = split === "val" && rel === "c/wide.jpg" ? [72, 32] : sizes[i % sizes.length];
      const { image, label } = scene(split, i, w, h, 9);
      const ids = new Uint8Array(w * h), classes = new Int32Array(w * h);
      for (let p = 0; p < ids.length; p++) {
        const ignore = p % w === 0; // left column: 255
        ids[p] = ignore ? 255 : label[p];
        classes[p] = ignore ? -1 : label[p];
      }
      await write(
        join(root, "images", split, rel),
        await encodeJpeg({ width: w, height: h, data: image }, 90),
      );
      await write(join(root, "labels", split, rel.replace(/\.jpg$/, ".png")), encodeGrayPng(w, h, ids));
      if (split === "val") truth.set(rel, { width: w, height: h, classes });
    }
  }
  const cmyk = new URL("../fixtures/real_data/cmyk.jpg", import.meta.url).pathname;
  await write(join(root, "images", "train", "print", "cmyk.jpg"), await Deno.readFile(cmyk));
  await write(
    join(root, "labels", "train", "print", "cmyk.png"),
    encodeGrayPng(24, 16, new Uint8Array(24 * 16).fill(2)),
  );
  await write(join(root, "classes.txt"), new TextEncoder().encode(SYNTHETIC_CLASSES.join("\n") + "\n"));
  return truth;
}

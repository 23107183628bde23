/**
 * What each dataset is, without its decoders (hp-method.md §9): the on-disk layout it expects, one sentence
 * each, and its class names. The layouts are the `hint` of every "missing root / list / folder" error, so a
 * wrong `--root` or `dataset.root` says what should be there. Kept apart from the dataset modules so the
 * registry, `prepare`, the five-crop folders and evaluation can name a layout or the classes without
 * loading an implementation.
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { DatasetOptions } from "./dataset.ts";

/** COCO-Stuff-27 (full images; the curated lists of STEGO/HP). */
export const COCO_LAYOUT = "expected COCO-Stuff layout: images/{train2017,val2017}/<id>.jpg, " +
  "annotations/{train2017,val2017}/<id>.png, curated/train2017/Coco164kFull_Stuff_Coarse.txt, " +
  "curated/val2017/Coco164kFull_Stuff_Coarse_7.txt";

/** Cityscapes (labelIds; the city sub-folders of the official download). */
export const CITYSCAPES_LAYOUT =
  "expected Cityscapes layout: leftImg8bit/{train,val}/<city>/*_leftImg8bit.png " +
  "and gtFine/{train,val}/<city>/*_gtFine_labelIds.png";

/** Potsdam as distributed by IIC (MATLAB files and the two list files). */
export const POTSDAM_LAYOUT = "expected Potsdam (IIC) layout: imgs/<id>.mat (img uint8 HxWx4), " +
  "gt/<id>.mat (gt int32 HxW), labelled_train.txt, labelled_test.txt";

/** The synthetic scenes written to disk by `prepare` (datasets/synthetic.ts). */
export const SYNTHETIC_LAYOUT =
  "expected a synthetic dataset folder: synthetic.json, curated/{train,val}.txt, " +
  "images/{train,val}/<id>.png, annotations/{train,val}/<id>.png (write it with " +
  "`deno task prepare --dataset synthetic --root DIR`)";

/** Any folder of images (datasets/folder.ts). */
export const FOLDER_LAYOUT = "expected a folder of .jpg/.jpeg/.png images: images/<split>/, images/ or the " +
  "folder itself (searched recursively); optional labels/<same path>.png (8-bit class ids, 255 = ignore) " +
  "and classes.txt";

/**
 * The hint of a missing dataset root: the layout expected there and, when the split is read from the
 * five-crop folder (training of cocostuff27 and cityscapes by default), where `prepare` writes it.
 */
export function rootLayoutHint(name: string, fiveCrop = false): string | undefined {
  const layout = datasetLayout(name);
  if (!layout || !fiveCrop) return layout;
  return `${layout}; training reads the five-crops cropped/${name}_five_crop_0.5/{img,label}/<split>/ ` +
    `that \`deno task prepare --dataset ${name} --root DIR\` writes from them`;
}

/** The layout sentence of a dataset name (undefined for unknown names). */
export function datasetLayout(name: string): string | undefined {
  switch (name) {
    case "cocostuff27":
      return COCO_LAYOUT;
    case "cityscapes":
      return CITYSCAPES_LAYOUT;
    case "potsdam":
      return POTSDAM_LAYOUT;
    case "synthetic":
      return SYNTHETIC_LAYOUT;
    case "folder":
      return FOLDER_LAYOUT;
  }
  return undefined;
}

// ---- class names

/** COCO-Stuff-27 coarse class names, index = class id. */
export const COCO27_CLASSES = [
  "electronic",
  "appliance",
  "food-things",
  "furniture-things",
  "indoor",
  "kitchen",
  "accessory",
  "animal",
  "outdoor",
  "person",
  "sports",
  "vehicle",
  "ceiling",
  "floor",
  "food-stuff",
  "furniture-stuff",
  "rawmaterial",
  "textile",
  "wall",
  "window",
  "building",
  "ground",
  "plant",
  "sky",
  "solid",
  "structural",
  "water",
];

/** Cityscapes' 27 classes (labelIds 7..33), index = class id. */
export const CITYSCAPES_CLASSES = [
  "road",
  "sidewalk",
  "parking",
  "rail track",
  "building",
  "wall",
  "fence",
  "guard rail",
  "bridge",
  "tunnel",
  "pole",
  "polegroup",
  "traffic light",
  "traffic sign",
  "vegetation",
  "terrain",
  "sky",
  "person",
  "rider",
  "car",
  "truck",
  "bus",
  "caravan",
  "trailer",
  "train",
  "motorcycle",
  "bicycle",
];

/** Potsdam-3 class names (the 6 → 3 merge of IIC). */
export const POTSDAM_CLASSES = ["roads and cars", "buildings and clutter", "trees and vegetation"];

/** The synthetic scenes' texture classes, index = class id. */
export const SYNTHETIC_CLASSES = ["hstripes", "vstripes", "checker", "dots", "grain", "smooth", "grid"];

/** Class names of a dataset, read without opening the full-image dataset. */
export async function classNamesOf(opts: DatasetOptions): Promise<string[]> {
  switch (opts.dataset) {
    case "cocostuff27":
      return COCO27_CLASSES.slice();
    case "cityscapes":
      return CITYSCAPES_CLASSES.slice();
    case "potsdam":
      return POTSDAM_CLASSES.slice();
    case "synthetic": {
      if (!opts.root) return SYNTHETIC_CLASSES.slice();
      try {
        return JSON.parse(await Deno.readTextFile(`${opts.root}/synthetic.json`)).classes;
      } catch {
        throw new InputError(`Missing ${opts.root}/synthetic.json (not a synthetic dataset folder)`);
      }
    }
    default:
      throw new InputError(`Five-crop folders are not defined for dataset "${opts.dataset}"`);
  }
}

/**
 * The on-disk layout each dataset expects (hp-method.md §9), one sentence each. They are the `hint` of every
 * "missing root / list / folder" error, so a wrong `--root` or `dataset.root` says what should be there.
 * Kept apart from the dataset modules so `openDataset` and `prepare` can name a layout without loading a
 * dataset's decoders.
 * @module
 */

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

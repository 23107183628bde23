/**
 * COCO-Stuff-27 (hp-method.md §9.1): curated IIC lists, the 182 → 27 coarse table, 255 → ignore.
 *
 * Layout under root: images/{train2017,val2017}/<id>.jpg, annotations/{train2017,val2017}/<id>.png (8-bit,
 * fine class 0..181, 255 unlabeled), curated/train2017/Coco164kFull_Stuff_Coarse.txt and
 * curated/val2017/Coco164kFull_Stuff_Coarse_7.txt. Training normally reads the five-crops instead
 * (datasets/cropped.ts).
 * @module
 */
import { decodeImage, decodeLabelPng, readBytes } from "../core/image/codecs.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, checkSameSize, mapLabels, readList, requireDir } from "./dataset.ts";
import { COCO27_CLASSES, COCO_LAYOUT } from "./layouts.ts";

/** Fine indices of each coarse class (hp-method.md §9.1 table); ranges are inclusive. */
const COARSE_TO_FINE: (number | [number, number])[][] = [
  [[71, 76]],
  [[77, 82]],
  [[51, 60]],
  [[61, 70]],
  [[83, 90]],
  [[43, 50]],
  [[25, 32]],
  [[15, 24]],
  [[9, 14]],
  [0],
  [[33, 42]],
  [[1, 8]],
  [[101, 102]],
  [100, [113, 117]],
  [[120, 121], 152, 169],
  [97, [106, 107], 109, 111, 122, 129, 132, 155, 160, 164],
  [99, 131, 138, 142],
  [[91, 92], [103, 104], 108, 130, 136, 140, 151, [166, 167]],
  [[170, 176]],
  [[179, 180]],
  [[94, 95], 127, 150, 157, 165],
  [110, [124, 125], 135, 139, [143, 144], 146, 148, 153, 158],
  [93, 96, 118, 123, 128, 133, 141, 162, 168],
  [105, 156],
  [126, 134, 149, 159, 161, 181],
  [98, 112, 137, 145, 163],
  [119, 147, 154, [177, 178]],
];

/** Raw PNG value → coarse class (-1 for 255, -2 = invalid value). */
export const COCO_FINE_TO_COARSE: Int16Array = (() => {
  const m = new Int16Array(256).fill(-2);
  COARSE_TO_FINE.forEach((items, coarse) => {
    for (const it of items) {
      const [a, b] = typeof it === "number" ? [it, it] : it;
      for (let f = a; f <= b; f++) m[f] = coarse;
    }
  });
  m[255] = -1;
  return m;
})();

/** The full-image COCO-Stuff-27 split (curated list order). */
export async function openCocoStuff27(opts: DatasetOptions): Promise<SegDataset> {
  const root = opts.root!;
  const dir = opts.split === "train" ? "train2017" : "val2017";
  const list = opts.split === "train" ? "Coco164kFull_Stuff_Coarse.txt" : "Coco164kFull_Stuff_Coarse_7.txt";
  await requireDir(`${root}/images/${dir}`, "COCO image folder", COCO_LAYOUT);
  const ids = await readList(`${root}/curated/${dir}/${list}`, COCO_LAYOUT);
  return {
    name: "cocostuff27",
    nClasses: 27,
    classNames: COCO27_CLASSES.slice(),
    length: ids.length,
    spec: { ...opts, fiveCrop: false },
    async get(i: number): Promise<Sample> {
      checkIndex(i, ids.length, "cocostuff27");
      const ip = `${root}/images/${dir}/${ids[i]}.jpg`, lp = `${root}/annotations/${dir}/${ids[i]}.png`;
      const image = await decodeImage(await readBytes(ip, "image"), ip);
      const lab = decodeLabelPng(await readBytes(lp, "label"), lp);
      checkSameSize(image, lab.width, lab.height, lp);
      return {
        name: ids[i],
        file: `${ids[i]}.jpg`,
        image,
        label: mapLabels(lab.values, COCO_FINE_TO_COARSE, lp, "expected 0..181 or 255"),
      };
    },
  };
}

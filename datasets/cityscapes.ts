/**
 * Cityscapes, 27 classes (hp-method.md §9.2): class = labelId − 7; labelIds 0–6 and 255 → ignore.
 *
 * Layout under root: leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png and
 * gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png. torchvision lists cities in directory
 * order (file-system dependent); we sort cities and files so five-crop indices are reproducible.
 * @module
 */
import { decodeImage, decodeLabelPng, readBytes } from "../core/image/codecs.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, checkSameSize, mapLabels, requireDir } from "./dataset.ts";
import { CITYSCAPES_CLASSES, CITYSCAPES_LAYOUT } from "./layouts.ts";
import { InputError } from "../core/errors.ts";

/** labelId → class (-1 ignore, -2 invalid). */
export const CITYSCAPES_LABEL_MAP: Int16Array = (() => {
  const m = new Int16Array(256).fill(-2);
  for (let v = 0; v <= 6; v++) m[v] = -1;
  for (let v = 7; v <= 33; v++) m[v] = v - 7;
  m[255] = -1;
  return m;
})();

/** Sorted names of the entries of `dir` that pass `keep`. */
export async function sortedEntries(dir: string, keep: (e: Deno.DirEntry) => boolean): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (keep(e)) names.push(e.name);
  return names.sort();
}

/** The full-image Cityscapes split. */
export async function openCityscapes(opts: DatasetOptions): Promise<SegDataset> {
  const root = opts.root!;
  const imgDir = `${root}/leftImg8bit/${opts.split}`;
  await requireDir(imgDir, "Cityscapes image folder", CITYSCAPES_LAYOUT);
  const items: { city: string; base: string }[] = [];
  for (const city of await sortedEntries(imgDir, (e) => e.isDirectory)) {
    const files = await sortedEntries(
      `${imgDir}/${city}`,
      (e) => e.isFile && e.name.endsWith("_leftImg8bit.png"),
    );
    for (const f of files) items.push({ city, base: f.slice(0, -"_leftImg8bit.png".length) });
  }
  if (items.length === 0) {
    throw new InputError(`No *_leftImg8bit.png images under ${imgDir}`, { hint: CITYSCAPES_LAYOUT });
  }
  return {
    name: "cityscapes",
    nClasses: 27,
    classNames: CITYSCAPES_CLASSES.slice(),
    length: items.length,
    spec: { ...opts, fiveCrop: false },
    async get(i: number): Promise<Sample> {
      checkIndex(i, items.length, "cityscapes");
      const { city, base } = items[i];
      const ip = `${imgDir}/${city}/${base}_leftImg8bit.png`;
      const lp = `${root}/gtFine/${opts.split}/${city}/${base}_gtFine_labelIds.png`;
      const image = await decodeImage(await readBytes(ip, "image"), ip);
      const lab = decodeLabelPng(await readBytes(lp, "label"), lp);
      checkSameSize(image, lab.width, lab.height, lp);
      const label = mapLabels(lab.values, CITYSCAPES_LABEL_MAP, lp, "expected labelIds 0..33 or 255");
      return { name: base, file: `${city}/${base}_leftImg8bit.png`, image, label };
    },
  };
}

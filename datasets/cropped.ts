/**
 * Five-crop datasets (hp-method.md §9.4): `cropped/<name>_five_crop_0.5/{img,label}/<split>/<k>.{jpg,png}`
 * under the dataset root, written by `deno task prepare` (or STEGO's crop_datasets.py). Crop j of source
 * image n has index k = 5n + j; labels store label+1 (0 = ignore).
 *
 * `fiveCropView` builds the same crops in memory from any dataset (used for in-memory synthetic scenes and
 * by prepare itself).
 * @module
 */
import { decodeImage, decodeLabelPng, readBytes } from "../core/image/codecs.ts";
import { cropImage, cropLabels, fiveCropBoxes } from "../core/image/transforms.ts";
import { InputError } from "../core/errors.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, checkSameSize, mapLabels, requireDir } from "./dataset.ts";
import { classNamesOf } from "./layouts.ts";

/** The five-crop folder of a dataset root. */
export function croppedDir(root: string, name: string, ratio = 0.5): string {
  return `${root}/cropped/${name}_five_crop_${ratio}`;
}

/** Label map of label+1 PNGs for n classes: 0 → -1, v → v−1, larger → invalid. */
export function plusOneMap(nClasses: number): Int16Array {
  const m = new Int16Array(256).fill(-2);
  for (let v = 0; v <= nClasses; v++) m[v] = v - 1;
  return m;
}

/** Opens the five-crop folder of `opts.split` (or generates crops in memory for rootless synthetic). */
export async function openCropped(opts: DatasetOptions): Promise<SegDataset> {
  if (opts.dataset === "synthetic" && !opts.root) {
    const { SyntheticScenes } = await import("./synthetic.ts");
    return fiveCropView(new SyntheticScenes({ ...opts, fiveCrop: false }), opts);
  }
  const root = opts.root!;
  const classNames = await classNamesOf(opts);
  const base = croppedDir(root, opts.dataset);
  const imgDir = `${base}/img/${opts.split}`, labDir = `${base}/label/${opts.split}`;
  await requireDir(
    imgDir,
    `five-crop folder for ${opts.dataset} ${opts.split}`,
    `expected ${base}/{img,label}/${opts.split}/<k>.{jpg,png}; ` +
      `write it with \`deno task prepare --dataset ${opts.dataset} --root ${root}\``,
  );
  let count = 0, maxK = -1;
  for await (const e of Deno.readDir(imgDir)) {
    const m = /^(\d+)\.jpg$/.exec(e.name);
    if (!m) continue;
    count++;
    maxK = Math.max(maxK, Number(m[1]));
  }
  if (count === 0 || maxK + 1 !== count) {
    throw new InputError(
      `Five-crop folder ${imgDir} is incomplete (${count} crops, highest index ${maxK})`,
      { hint: `rerun \`deno task prepare --dataset ${opts.dataset} --root ${root}\` (it resumes)` },
    );
  }
  const map = plusOneMap(classNames.length);
  return {
    name: opts.dataset,
    nClasses: classNames.length,
    classNames,
    length: count,
    spec: { ...opts, fiveCrop: true },
    async get(k: number): Promise<Sample> {
      checkIndex(k, count, `${opts.dataset} five-crop`);
      const ip = `${imgDir}/${k}.jpg`, lp = `${labDir}/${k}.png`;
      const image = await decodeImage(await readBytes(ip, "image"), ip);
      const lab = decodeLabelPng(await readBytes(lp, "label"), lp);
      checkSameSize(image, lab.width, lab.height, lp);
      const label = mapLabels(lab.values, map, lp, `expected label+1 in 0..${classNames.length}`);
      return { name: String(k), image, label };
    },
  };
}

/** The five crops (ratio 0.5) of every sample of `ds`, index k = 5n + j, computed on access. */
export function fiveCropView(ds: SegDataset, spec?: DatasetOptions, ratio = 0.5): SegDataset {
  return {
    name: ds.name,
    nClasses: ds.nClasses,
    classNames: ds.classNames,
    length: ds.length * 5,
    spec,
    async get(k: number): Promise<Sample> {
      checkIndex(k, ds.length * 5, `${ds.name} five-crop`);
      const s = await ds.get(Math.floor(k / 5));
      const [t, l, h, w] = fiveCropBoxes(s.image.height, s.image.width, ratio)[k % 5];
      const image = cropImage(s.image, t, l, h, w);
      const label = s.label
        ? cropLabels(
          { width: s.image.width, height: s.image.height, data: Int32Array.from(s.label) },
          t,
          l,
          h,
          w,
        ).data
        : null;
      return { name: String(k), image, label };
    },
  };
}

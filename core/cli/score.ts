/**
 * `hpseg score`: scores any method's 8-bit label PNGs against ground truth with the protocol of
 * hp-method.md §8.4 (global Hungarian matching for `cluster`, identity for `linear`). Ground truth is a
 * folder of label PNGs (`--gt`), or a dataset itself (`--dataset NAME --root DIR`): its labels through the
 * dataset's own mapping (COCO-Stuff fine ids → 27 classes, Cityscapes labelIds − 7, …), at full image size,
 * and the predictions `predict` wrote for its images, found by the image's path or stem.
 * @module
 */
import { join } from "node:path";
import { type Command, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { InputError, UsageError } from "../errors.ts";
import { decodeLabelPng } from "../image/codecs.ts";
import { Confusion, type ProbeMode, scoreConfusion, type Scores, scoresToJson } from "../eval/metrics.ts";
import { DATASET_NAMES, type DatasetName, type SegDataset } from "../../datasets/dataset.ts";
import { openDataset } from "../../datasets/registry.ts";

const HELP =
  `Usage: hpseg score --pred DIR --dataset NAME --root DIR [--split val] [--mode cluster|linear] [--json]
       hpseg score --pred DIR --gt DIR --classes N [--mode cluster|linear] [--json]

Scores predicted label PNGs against ground truth with HP's protocol (hp-method.md §8.4), so results of
other tools can be compared on equal terms.

With --dataset, the ground truth is the dataset's own labels (its class mapping, e.g. COCO-Stuff fine ids
0–181 → 27 classes, 255 ignored), full size, and DIR is what \`hpseg predict\` wrote for the split's images:
the prediction of image PATH/NAME.ext is PATH/NAME_cluster.png (--mode cluster) or PATH/NAME_linear.png
(--mode linear), found by that relative path or else by NAME alone; its size must equal the image's (predict
without --crop). Every image of the split needs a prediction; other files in DIR are counted and ignored.

With --gt, both folders hold 8-bit greyscale or palette PNGs (value = grey level / palette index) with the
same file names and sizes. Every GT file needs a prediction and vice versa.
  - GT: values 0..N-1 are classes; 255 (and any value ≥ N) is ignored.
  - Predictions: values 0..N-1; values ≥ N are "invalid": those pixels are left out of the confusion
    matrix (as in the reference protocol, which only counts 0 ≤ pred < N) and their number is reported.
One confusion matrix H[pred, gt] is accumulated over all images. --mode cluster (default) matches predicted
ids to classes once for the whole set (Hungarian, maximising matched pixels); --mode linear uses pred id =
class id. IoU_k = TP/(TP+FP+FN); mIoU averages the classes present in GT or (matched) prediction;
accuracy = matched pixels / counted pixels. All in percent.

Options:
  --pred DIR      folder of predicted label PNGs
  --dataset NAME  cocostuff27 | cityscapes | potsdam | folder | synthetic: ground truth from the dataset
  --root DIR      the dataset's folder (with --dataset)
  --split S       val (default) | train (with --dataset)
  --gt DIR        folder of ground-truth label PNGs (instead of --dataset)
  --classes N     number of classes (= number of clusters; with --gt)
  --mode M        cluster (Hungarian, default) or linear (identity)
  --json          print only a JSON line {"acc", "miou", "iou": [per class, null = absent]}
  -h, --help      show this help`;

/** Result of {@link scoreLabelDirs}. */
export interface DirScores extends Scores {
  images: number;
  pixels: number;
  invalidPred: number;
}

async function listPngs(dir: string, flag: string): Promise<string[]> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch {
    throw new InputError(`Cannot read ${flag} folder ${dir}: it does not exist`);
  }
  if (!stat.isDirectory) throw new InputError(`Cannot read ${flag} folder ${dir}: not a directory`);
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.toLowerCase().endsWith(".png")) names.push(e.name);
  }
  return names.sort();
}

function describe(names: string[]): string {
  return names.slice(0, 3).map((n) => `"${n}"`).join(", ") +
    (names.length > 3 ? ` and ${names.length - 3} more` : "");
}

/**
 * Scores every PNG in `predDir` against the same-named PNG in `gtDir`.
 * @throws InputError for missing folders, unmatched files, size mismatches and undecodable PNGs
 */
export async function scoreLabelDirs(
  predDir: string,
  gtDir: string,
  n: number,
  mode: ProbeMode,
): Promise<DirScores> {
  const [pred, gt] = await Promise.all([listPngs(predDir, "--pred"), listPngs(gtDir, "--gt")]);
  if (gt.length === 0) throw new InputError(`Cannot score: no .png files in --gt folder ${gtDir}`);
  const predSet = new Set(pred), gtSet = new Set(gt);
  const noPred = gt.filter((f) => !predSet.has(f));
  const noGt = pred.filter((f) => !gtSet.has(f));
  if (noPred.length) {
    throw new InputError(
      `Cannot score: ${noPred.length} GT file(s) have no prediction in ${predDir}: ${describe(noPred)}`,
    );
  }
  if (noGt.length) {
    throw new InputError(
      `Cannot score: ${noGt.length} prediction(s) have no GT file in ${gtDir}: ${describe(noGt)}`,
    );
  }
  const conf = new Confusion(n);
  let pixels = 0;
  for (const name of gt) {
    const pPath = join(predDir, name), gPath = join(gtDir, name);
    const p = decodeLabelPng(await Deno.readFile(pPath), pPath);
    const g = decodeLabelPng(await Deno.readFile(gPath), gPath);
    if (p.width !== g.width || p.height !== g.height) {
      throw new InputError(
        `Cannot score ${name}: prediction is ${p.width}×${p.height} but GT is ${g.width}×${g.height}`,
      );
    }
    conf.add(p.values, g.values); // GT 255 and values ≥ n fall outside [0, n) and are ignored
    pixels += g.values.length;
  }
  return {
    ...scoreConfusion(conf.counts, n, mode),
    images: gt.length,
    pixels,
    invalidPred: conf.invalidPred,
  };
}

async function walkPngs(dir: string, rel: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(join(dir, rel))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) await walkPngs(dir, r, out);
    else if (e.isFile && e.name.endsWith(".png")) out.push(r);
  }
}

/** Result of {@link scoreAgainstDataset}. */
export interface DatasetScores extends DirScores {
  /** PNG files of the mode in --pred that no image of the split claimed. */
  unused: number;
}

/**
 * Scores the `mode` predictions in `predDir` against every image of `ds` (see the module comment).
 * @throws InputError for missing predictions, size mismatches and undecodable PNGs
 */
export async function scoreAgainstDataset(
  predDir: string,
  ds: SegDataset,
  mode: ProbeMode,
): Promise<DatasetScores> {
  const all: string[] = [];
  try {
    if (!(await Deno.stat(predDir)).isDirectory) throw new Error("not a directory");
    await walkPngs(predDir, "", all);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`Cannot read --pred folder ${predDir}: ${(err as Error).message}`);
  }
  const suffix = `_${mode}.png`;
  const byPath = new Set<string>(), byStem = new Map<string, string[]>();
  for (const f of all.filter((x) => x.endsWith(suffix))) {
    byPath.add(f);
    const stem = f.slice(f.lastIndexOf("/") + 1, -suffix.length);
    byStem.set(stem, [...(byStem.get(stem) ?? []), f]);
  }
  const n = ds.nClasses, conf = new Confusion(n), used = new Set<string>();
  const missing: string[] = [];
  let pixels = 0;
  for (let i = 0; i < ds.length; i++) {
    const s = await ds.get(i);
    if (!s.label) throw new InputError(`Cannot score against ${ds.name}: image "${s.name}" has no labels`);
    const file = (s.file ?? s.name).replace(/\.[^./]+$/, "");
    const stem = file.slice(file.lastIndexOf("/") + 1);
    const candidates = byStem.get(stem) ?? [];
    const rel = byPath.has(file + suffix) ? file + suffix : candidates.length === 1 ? candidates[0] : null;
    if (!rel) {
      missing.push(
        candidates.length > 1 ? `${file} (${candidates.length} files named ${stem}${suffix})` : file,
      );
      continue;
    }
    used.add(rel);
    const path = join(predDir, rel);
    const p = decodeLabelPng(await Deno.readFile(path), path);
    if (p.width !== s.image.width || p.height !== s.image.height) {
      throw new InputError(
        `Cannot score ${path}: prediction is ${p.width}×${p.height} but ${s.file ?? s.name} is ` +
          `${s.image.width}×${s.image.height}`,
        { hint: "predict writes full-size masks unless --crop is given" },
      );
    }
    conf.add(p.values, s.label instanceof Int32Array ? s.label : Int32Array.from(s.label));
    pixels += s.label.length;
  }
  if (missing.length) {
    throw new InputError(
      `Cannot score: ${missing.length} of ${ds.length} ${ds.name} images have no *${suffix} in ${predDir}: ` +
        describe(missing),
      { hint: `run \`hpseg predict --out ${predDir}\` on the split's images first` },
    );
  }
  return {
    ...scoreConfusion(conf.counts, n, mode),
    images: ds.length,
    pixels,
    invalidPred: conf.invalidPred,
    unused: byPath.size - used.size,
  };
}

const fmt = (v: number) => Number.isNaN(v) ? "  –  " : v.toFixed(2).padStart(6);

export const command: Command = {
  name: "score",
  summary: "Score label PNGs against ground truth (Hungarian or identity)",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("score", argv, {
      pred: { type: "string" },
      gt: { type: "string" },
      dataset: { type: "string" },
      root: { type: "string" },
      split: { type: "string" },
      classes: { type: "string" },
      mode: { type: "string" },
      json: { type: "boolean" },
    });
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const predDir = stringOpt(args, "pred"), gtDir = stringOpt(args, "gt");
    const dsName = stringOpt(args, "dataset");
    if (!predDir) throw new UsageError("score: --pred DIR is required");
    if (!gtDir && !dsName) {
      throw new UsageError("score: give --dataset NAME --root DIR, or --gt DIR --classes N");
    }
    if (gtDir && dsName) throw new UsageError("score: --gt and --dataset are alternatives; give one");
    const mode = stringOpt(args, "mode", "cluster")!;
    if (mode !== "cluster" && mode !== "linear") {
      throw new UsageError(`score: --mode must be "cluster" or "linear", got "${mode}"`);
    }
    let r: DirScores & { unused?: number }, n: number;
    if (dsName) {
      if (!DATASET_NAMES.includes(dsName as DatasetName)) {
        throw new UsageError(`score: --dataset must be one of ${DATASET_NAMES.join(", ")}, got "${dsName}"`);
      }
      for (const k of ["classes"]) {
        if (args.values[k] !== undefined) throw new UsageError(`score: --${k} goes with --gt, not --dataset`);
      }
      const split = stringOpt(args, "split", "val")!;
      if (split !== "val" && split !== "train") {
        throw new UsageError(`score: --split must be "val" or "train", got "${split}"`);
      }
      const root = stringOpt(args, "root");
      if (!root && dsName !== "synthetic") {
        throw new UsageError(`score: --dataset ${dsName} needs --root DIR`);
      }
      // Full images, never the five-crops: predictions are of the split's own images.
      const ds = await openDataset({ dataset: dsName as DatasetName, root, split, fiveCrop: false });
      n = ds.nClasses;
      r = await scoreAgainstDataset(predDir, ds, mode);
    } else {
      for (const k of ["root", "split"]) {
        if (args.values[k] !== undefined) throw new UsageError(`score: --${k} goes with --dataset, not --gt`);
      }
      const nn = numberOpt(args, "classes");
      if (nn === undefined) throw new UsageError("score: --classes N is required with --gt");
      if (!Number.isInteger(nn) || nn < 1 || nn > 255) {
        throw new UsageError(`score: --classes must be an integer in 1..255, got ${nn}`);
      }
      n = nn;
      r = await scoreLabelDirs(predDir, gtDir!, n, mode);
    }
    const note = `${r.images} images, ${r.pixels} pixels` +
      (r.invalidPred ? `, ${r.invalidPred} valid-GT pixels with prediction ≥ ${n} left out` : "") +
      (r.unused ? `, ${r.unused} other *_${mode}.png file(s) in --pred not used` : "");
    if (args.values.json) {
      console.error(`score: ${mode}, ${note}`);
      console.log(JSON.stringify(scoresToJson(r)));
    } else {
      console.log(`${mode} scores over ${note}`);
      console.log(`  pixel accuracy ${fmt(r.acc)} %   mIoU ${fmt(r.miou)} %`);
      r.iou.forEach((v, k) =>
        console.log(
          `  class ${String(k).padStart(3)}  IoU ${fmt(v)} %` +
            (mode === "cluster" ? `  (pred id ${r.classToPred[k]})` : ""),
        )
      );
    }
    return 0;
  },
};

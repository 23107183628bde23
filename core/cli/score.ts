/**
 * `hpseg score`: scores any method's 8-bit label PNGs against ground truth with the protocol of
 * hp-method.md §8.4 (global Hungarian matching for `cluster`, identity for `linear`).
 * @module
 */
import { join } from "node:path";
import { type Command, numberOpt, parseCommandArgs, stringOpt, UsageError } from "./command.ts";
import { InputError } from "../errors.ts";
import { decodeLabelPng } from "../data/image.ts";
import { Confusion, type ProbeMode, scoreConfusion, type Scores, scoresToJson } from "../eval/metrics.ts";

const HELP = `Usage: hpseg score --pred DIR --gt DIR --classes N [--mode cluster|linear] [--json]

Scores predicted label PNGs against ground-truth label PNGs with HP's protocol (hp-method.md §8.4), so
results of other tools can be compared on equal terms.

Both folders hold 8-bit greyscale or palette PNGs (value = grey level / palette index) with the same file
names and sizes. Every GT file needs a prediction and vice versa.
  - GT: values 0..N-1 are classes; 255 (and any value ≥ N) is ignored.
  - Predictions: values 0..N-1; values ≥ N are "invalid": those pixels are left out of the confusion
    matrix (as in the reference protocol, which only counts 0 ≤ pred < N) and their number is reported.
One confusion matrix H[pred, gt] is accumulated over all images. --mode cluster (default) matches predicted
ids to classes once for the whole set (Hungarian, maximising matched pixels); --mode linear uses pred id =
class id. IoU_k = TP/(TP+FP+FN); mIoU averages the classes present in GT or (matched) prediction;
accuracy = matched pixels / counted pixels. All in percent.

Options:
  --pred DIR      folder of predicted label PNGs
  --gt DIR        folder of ground-truth label PNGs
  --classes N     number of classes (= number of clusters)
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

const fmt = (v: number) => Number.isNaN(v) ? "  –  " : v.toFixed(2).padStart(6);

export const command: Command = {
  name: "score",
  summary: "Score label PNGs against ground truth (Hungarian or identity)",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("score", argv, {
      pred: { type: "string" },
      gt: { type: "string" },
      classes: { type: "string" },
      mode: { type: "string" },
      json: { type: "boolean" },
    });
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const predDir = stringOpt(args, "pred"), gtDir = stringOpt(args, "gt");
    if (!predDir) throw new UsageError("score: --pred DIR is required");
    if (!gtDir) throw new UsageError("score: --gt DIR is required");
    const n = numberOpt(args, "classes");
    if (n === undefined) throw new UsageError("score: --classes N is required");
    if (!Number.isInteger(n) || n < 1 || n > 255) {
      throw new UsageError(`score: --classes must be an integer in 1..255, got ${n}`);
    }
    const mode = stringOpt(args, "mode", "cluster")!;
    if (mode !== "cluster" && mode !== "linear") {
      throw new UsageError(`score: --mode must be "cluster" or "linear", got "${mode}"`);
    }
    const r = await scoreLabelDirs(predDir, gtDir, n, mode);
    const note = `${r.images} images, ${r.pixels} pixels` +
      (r.invalidPred ? `, ${r.invalidPred} valid-GT pixels with prediction ≥ ${n} left out` : "");
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

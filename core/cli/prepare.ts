/**
 * `hpseg prepare`: five-crops exactly as the reference (hp-method.md §9.4), synthetic scenes on disk, and
 * packed caches. The work lives in datasets/prepare.ts; this file parses flags and draws the progress bar.
 * @module
 */
import { type Command, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { UsageError } from "../errors.ts";
import { DATASET_NAMES, type DatasetName } from "../../datasets/dataset.ts";
import { MAX_RESOLUTION, MAX_SYNTHETIC_COUNT, MAX_WORKERS } from "../limits.ts";

const HELP = `Usage: hpseg prepare --dataset NAME --root DIR [options]

Prepares a dataset for training (resumable: re-running skips finished files).

  cocostuff27, cityscapes  five-crops of train and val into DIR/cropped/<name>_five_crop_0.5/
                           {img,label}/<split>/<k>.{jpg,png} (k = 5n + j; labels store label+1)
  synthetic                writes the synthetic scenes to DIR (COCO-like layout), then five-crops them
  potsdam, folder          no five-crop (the reference uses the tiles directly); use --pack

Options:
  --dataset NAME      cocostuff27 | cityscapes | potsdam | folder | synthetic
  --root DIR          dataset folder
  --out DIR           parent of the five-crop folder (default DIR/cropped)
  --split S           train | val | both (default both)
  --pack              also write packed caches (uint8, training resolution) to DIR/packed/
  --size N            packed train resolution (default 224)
  --val-size N        packed val resolution (default 320)
  --skip-bad          skip undecodable images (counted, listed in skipped_<split>.txt)
  --workers N         Web Workers decoding/encoding crops (default: CPU count, max 8); same output
  --image-size N      synthetic: image side (default 64)
  --count N           synthetic: train images (default 300)
  --val-count N       synthetic: val images (default 60)
  --seed N            synthetic: seed (default 0)
  -h, --help          Show this help`;

/** Progress output: a redrawn bar on a terminal, plain lines at every 10 % otherwise. */
export function progressPrinter(
  tty: boolean,
  write: (s: string) => void,
): (phase: string, d: number, t: number) => void {
  let lastPhase = "", lastDecile = -1, start = performance.now();
  return (phase, done, total) => {
    if (phase !== lastPhase) {
      if (tty && lastPhase) write("\n");
      lastPhase = phase;
      lastDecile = -1;
      start = performance.now();
    }
    const frac = total > 0 ? done / total : 1;
    if (tty) {
      const w = 30, filled = Math.round(frac * w);
      const rate = done / Math.max(1e-3, (performance.now() - start) / 1000);
      write(
        `\r${phase} [${"#".repeat(filled)}${".".repeat(w - filled)}] ${done}/${total} ${rate.toFixed(1)}/s`,
      );
      if (done === total) {
        write("\n");
        lastPhase = "";
      }
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        write(`${phase}: ${done}/${total} (${Math.round(frac * 100)}%)\n`);
      }
    }
  };
}

export const command: Command = {
  name: "prepare",
  summary: "Prepare a dataset: five-crops, synthetic scenes on disk, packed caches",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("prepare", argv, {
      dataset: { type: "string" },
      root: { type: "string" },
      out: { type: "string" },
      split: { type: "string" },
      pack: { type: "boolean" },
      size: { type: "string" },
      "val-size": { type: "string" },
      "skip-bad": { type: "boolean" },
      workers: { type: "string" },
      "image-size": { type: "string" },
      count: { type: "string" },
      "val-count": { type: "string" },
      seed: { type: "string" },
    });
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const dataset = stringOpt(args, "dataset");
    if (!dataset || !DATASET_NAMES.includes(dataset as DatasetName)) {
      throw new UsageError(
        `prepare: --dataset must be one of ${DATASET_NAMES.join(", ")}, got "${dataset ?? ""}"`,
      );
    }
    const root = stringOpt(args, "root");
    if (!root) throw new UsageError("prepare: --root DIR is required");
    const split = stringOpt(args, "split", "both")!;
    if (!["train", "val", "both"].includes(split)) {
      throw new UsageError(`prepare: --split must be train, val or both, got "${split}"`);
    }
    // Upper bounds (core/limits.ts): `--count 1e12` must not write until the disk is full.
    const maxOf: Record<string, number> = {
      count: MAX_SYNTHETIC_COUNT,
      "val-count": MAX_SYNTHETIC_COUNT,
      size: MAX_RESOLUTION,
      "val-size": MAX_RESOLUTION,
      "image-size": MAX_RESOLUTION,
    };
    const intOpt = (k: string, d: number) => {
      const v = numberOpt(args, k, d);
      if (!Number.isInteger(v) || v < 1 || v > maxOf[k]) {
        throw new UsageError(`--${k} must be an integer in [1, ${maxOf[k]}], got ${v}`);
      }
      return v;
    };
    const enc = new TextEncoder();
    const progress = progressPrinter(Deno.stderr.isTerminal(), (s) => Deno.stderr.writeSync(enc.encode(s)));
    const { prepareDataset } = await import("../../datasets/prepare.ts");
    const report = await prepareDataset({
      dataset: dataset as DatasetName,
      root,
      out: stringOpt(args, "out"),
      splits: split === "both" ? ["train", "val"] : [split as "train" | "val"],
      pack: args.values.pack === true,
      size: intOpt("size", 224),
      valSize: intOpt("val-size", 320),
      skipBad: args.values["skip-bad"] === true,
      workers: (() => {
        const w = numberOpt(args, "workers", Math.min(8, navigator.hardwareConcurrency ?? 1));
        if (!Number.isInteger(w) || w < 0 || w > MAX_WORKERS) {
          throw new UsageError(`--workers must be an integer in [0, ${MAX_WORKERS}], got ${w}`);
        }
        return w;
      })(),
      synthetic: {
        imageSize: intOpt("image-size", 64),
        trainCount: intOpt("count", 300),
        valCount: intOpt("val-count", 60),
        seed: numberOpt(args, "seed", 0),
      },
      progress,
    });
    for (const note of report.notes) console.error(`prepare: ${note}`);
    if ((dataset === "potsdam" || dataset === "folder") && !args.values.pack) {
      console.log(
        `${dataset} has no five-crop step (the reference uses the images directly); nothing to do without --pack`,
      );
    }
    console.log(
      `prepare ${dataset}: ${report.written} sources cropped, ${report.skippedExisting} already done, ` +
        `${report.skippedBad} skipped as undecodable` +
        (report.packed.length ? `; packed: ${report.packed.join(", ")}` : ""),
    );
    return 0;
  },
};

/**
 * `hpseg eval`: evaluates a checkpoint with HP's protocol (hp-method.md §8): cluster and linear Acc / mIoU,
 * per-class IoU, optionally after the dense CRF.
 * @module
 */
import { type Command, intOpt, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { InputError, UsageError } from "../errors.ts";
import { openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { type DatasetName } from "../../datasets/dataset.ts";
import { openDataset } from "../../datasets/registry.ts";
import { evalTransform, evalTransformLabels, normalizeImageNet } from "../image/transforms.ts";
import { type EvalBatch, type EvalResult, evaluate } from "../eval/evaluate.ts";
import { buildEvalModel, loadEvalModel, resolveCheckpoint } from "../eval/eval_model.ts";
import { CrfPool } from "../eval/crf_pool.ts";
import { type Scores, scoresToJson } from "../eval/metrics.ts";
import { nearestMultiples } from "../vit/variants.ts";
import { MAX_BATCH, MAX_RESOLUTION } from "../limits.ts";

/** Eval resolution for checkpoints without a config (official ckpt.pth): HP's 320 (hp-method.md §8.1). */
export const DEFAULT_RES = 320;

const HELP = `Usage: hpseg eval --checkpoint RUN_OR_FILE [--crf] [--json] [options]

Evaluates a checkpoint on a validation set with HP's protocol (hp-method.md §8): images resized (shorter
side, nearest) and centre-cropped to --res, bilinear upsampling of the code to the label size, cluster
probe with one global Hungarian matching, linear probe with the identity, pixel accuracy and mIoU.

RUN_OR_FILE is a run folder (uses checkpoints/best.safetensors for --selection val, falling back to
last.safetensors; checkpoints/last.safetensors for --selection last), one of our .safetensors checkpoints,
or an official HP ckpt.pth.

Options:
  --checkpoint P   run folder or checkpoint file (required)
  --selection S    val | last (run folders only; default: the run's eval.selection)
  --dataset NAME   dataset (default: the checkpoint's config; required for ckpt.pth)
  --root DIR       dataset folder (default: the checkpoint's config)
  --res N          eval resolution (default: the checkpoint config's eval.res, the resolution the trainer
                   validated at; 320 — HP's protocol — for checkpoints without a config, e.g. ckpt.pth)
  --batch N        images per GPU batch (default 4)
  --limit N        evaluate only the first N images
  --crf            also report scores after the dense CRF (hp-method.md §8.5)
  --json           print one JSON line {cluster, linear, crf?} (scores in percent; null = class absent)
  -h, --help       show this help`;

function table(name: string, s: Scores): string {
  return `${name.padEnd(16)} Acc ${s.acc.toFixed(2).padStart(6)}  mIoU ${s.miou.toFixed(2).padStart(6)}`;
}

function jsonOf(r: EvalResult) {
  const o: Record<string, unknown> = {
    images: r.images,
    pixels: r.pixels,
    cluster: scoresToJson(r.cluster),
    linear: scoresToJson(r.linear),
  };
  if (r.crf) o.crf = { cluster: scoresToJson(r.crf.cluster), linear: scoresToJson(r.crf.linear) };
  return o;
}

export const command: Command = {
  name: "eval",
  summary: "Evaluate a checkpoint: cluster/linear Acc and mIoU, optional CRF",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("eval", argv, {
      checkpoint: { type: "string" },
      selection: { type: "string" },
      dataset: { type: "string" },
      root: { type: "string" },
      res: { type: "string" },
      batch: { type: "string" },
      limit: { type: "string" },
      crf: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const ckpt = stringOpt(args, "checkpoint");
    if (!ckpt) throw new UsageError("eval: --checkpoint RUN_OR_FILE is required");
    const sel = stringOpt(args, "selection");
    if (sel !== undefined && sel !== "val" && sel !== "last") {
      throw new UsageError(`eval: --selection must be "val" or "last", got "${sel}"`);
    }
    const B = intOpt(args, "batch", { min: 1, max: MAX_BATCH }, 4);
    // --limit 0 would score nothing and print NaN scores: at least one image.
    const limit = intOpt(args, "limit", { min: 1, max: Number.MAX_SAFE_INTEGER }, Number.MAX_SAFE_INTEGER);
    let path = await resolveCheckpoint(ckpt, (sel as "val" | "last" | undefined) ?? "last");
    let m = await loadEvalModel(path);
    if (sel === undefined && m.config?.eval.selection === "val") {
      // A run folder without --selection follows the run's own eval.selection.
      const best = await resolveCheckpoint(ckpt, "val");
      if (best !== path) m = await loadEvalModel(path = best);
    }
    const res = numberOpt(args, "res", m.config?.eval.res ?? DEFAULT_RES);
    if (!Number.isInteger(res) || res <= 0 || res > MAX_RESOLUTION || res % m.vit.config.patch) {
      throw new UsageError(
        `eval: --res must be a multiple of the patch size ${m.vit.config.patch} in [1, ${MAX_RESOLUTION}], got ${res}` +
          nearestMultiples(res, m.vit.config.patch),
      );
    }
    const dsName = stringOpt(args, "dataset") ?? m.config?.dataset.name;
    if (!dsName) throw new UsageError(`eval: ${path} carries no dataset; pass --dataset and --root`);
    const cfg = m.config?.dataset;
    const ds = await openDataset({
      dataset: dsName as DatasetName,
      root: stringOpt(args, "root") ?? (cfg?.root || undefined),
      split: "val",
      imageSize: cfg?.image_size,
      count: cfg?.val_count,
      nClasses: cfg?.n_classes || undefined,
    });
    if (ds.nClasses !== m.n) {
      throw new InputError(
        `Cannot evaluate ${path} on ${ds.name}: the probes have ${m.n} classes, the dataset has ${ds.nClasses}`,
      );
    }
    const total = Math.min(ds.length, limit);
    if (total === 0) throw new InputError(`Cannot evaluate on ${ds.name}: the val split has no images`);
    const gpu = await openGpu({ announce: !args.values.json });
    const probsBytes = 2 * B * res * res * m.n * 4;
    if (args.values.crf && probsBytes > gpu.limits.maxStorageBufferBindingSize) {
      gpu.destroy();
      throw new UsageError(
        `eval: --crf with --batch ${B} needs ${probsBytes} bytes of probabilities in one GPU buffer, over the ` +
          `adapter's ${gpu.limits.maxStorageBufferBindingSize}; use a smaller --batch`,
      );
    }
    const arena = new BufferArena(gpu, "eval");
    const pool = args.values.crf ? new CrfPool() : undefined;
    try {
      const model = await buildEvalModel(gpu, arena, m, B, res);
      const batches = async function* (): AsyncGenerator<EvalBatch> {
        for (let first = 0; first < total; first += B) {
          const images = new Float32Array(B * 3 * res * res), labels = new Int32Array(B * res * res).fill(-1);
          const rgb = new Uint8Array(B * res * res * 3);
          const count = Math.min(B, total - first);
          for (let i = 0; i < count; i++) {
            const s = await ds.get(first + i);
            if (!s.label) {
              throw new InputError(`Cannot evaluate on ${ds.name}: image "${s.name}" has no labels`);
            }
            const img = evalTransform(s.image, res);
            const lab = evalTransformLabels(
              { width: s.image.width, height: s.image.height, data: Int32Array.from(s.label) },
              res,
            );
            normalizeImageNet(img, images, i * 3 * res * res);
            labels.set(lab.data, i * res * res);
            rgb.set(img.data, i * res * res * 3);
          }
          yield { images, labels, rgb, count };
        }
      };
      const r = await evaluate(gpu, arena, model, m.probes, batches(), {
        B,
        H: res,
        W: res,
        n: m.n,
        imageShape: [B, 3, res, res],
        crf: pool,
      });
      model.destroy();
      if (args.values.json) {
        console.log(JSON.stringify({ checkpoint: path, ...jsonOf(r) }));
      } else {
        console.log(
          `${path}: ${r.images} images of ${ds.name} val at ${res}×${res}, ${r.pixels} labelled pixels`,
        );
        console.log(table("cluster", r.cluster));
        console.log(table("linear", r.linear));
        if (r.crf) {
          console.log(table("cluster + CRF", r.crf.cluster));
          console.log(table("linear + CRF", r.crf.linear));
        }
        const names = ds.classNames;
        const fmt = (v: number) => Number.isNaN(v) ? "   –  " : v.toFixed(2).padStart(6);
        console.log(`per-class IoU (cluster / linear${r.crf ? " / cluster + CRF / linear + CRF" : ""}):`);
        r.cluster.iou.forEach((v, k) => {
          const crf = r.crf ? ` ${fmt(r.crf.cluster.iou[k])} ${fmt(r.crf.linear.iou[k])}` : "";
          console.log(`  ${(names[k] ?? String(k)).padEnd(16)} ${fmt(v)} ${fmt(r.linear.iou[k])}${crf}`);
        });
      }
    } finally {
      pool?.close();
      arena.destroyAll();
      gpu.destroy();
    }
    return 0;
  },
};

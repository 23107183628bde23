/**
 * The dataset interface every loader, trainer and evaluator uses, and the helpers the implementations share
 * (hp-method.md §9). `openDataset` (registry.ts) picks the implementation.
 *
 * A dataset yields full-resolution samples: RGB u8 image plus a label map in the dataset's class ids
 * (-1 = ignore) or null when unlabelled. Resizing, cropping, normalising and augmenting happen in the loader
 * (core/data/loader.ts). `spec` is the serialisable recipe a Web Worker uses to reopen the same dataset.
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { RgbImage } from "../core/image/codecs.ts";

/** One sample: image (RGB interleaved u8) and labels (H×W, -1 = ignore) or null. */
export interface Sample {
  name: string;
  /**
   * The image file relative to the split's image folder (e.g. `frankfurt/frankfurt_000000_000294_leftImg8bit.png`),
   * what `predict` names its output after and `score --dataset` matches predictions by.
   */
  file?: string;
  image: RgbImage;
  label: Int16Array | Int32Array | null;
}

/** A random-access segmentation dataset. */
export interface SegDataset {
  name: string;
  nClasses: number;
  classNames: string[];
  length: number;
  get(i: number): Promise<Sample>;
  /** How to reopen this dataset elsewhere (Web Workers); absent for in-memory datasets. */
  spec?: DatasetOptions;
  /**
   * Set when every sample is already at training resolution (packed caches, synthetic scenes generated at
   * the loader's size): the loader then skips resizing.
   */
  fixedSize?: number;
}

export type DatasetName = "cocostuff27" | "cityscapes" | "potsdam" | "folder" | "synthetic";
export const DATASET_NAMES: DatasetName[] = ["cocostuff27", "cityscapes", "potsdam", "folder", "synthetic"];

/** Options of `openDataset` (registry.ts). All fields are JSON-serialisable (sent to Web Workers). */
export interface DatasetOptions {
  dataset: DatasetName;
  /** Dataset folder (hp-method.md §9 layouts). Optional for "synthetic" (generated in memory). */
  root?: string;
  split: "train" | "val";
  /**
   * Read the five-crop folder `cropped/<name>_five_crop_0.5/` (written by `deno task prepare`). Default:
   * true for cocostuff27/cityscapes train (as the reference), false otherwise. Ignored for potsdam.
   */
  fiveCrop?: boolean;
  /**
   * Read the packed cache `packed/<name>_<split>[_five_crop]_<size>.hpk` written by `prepare --pack` (images
   * and labels already at `packedSize`, no decoding). Give the size, e.g. 224.
   */
  packedSize?: number;
  /** synthetic: image side (default 64), number of images (default 300 train / 60 val), seed (default 0). */
  imageSize?: number;
  count?: number;
  seed?: number;
  /** folder: number of classes when `classes.txt` is absent. */
  nClasses?: number;
}

/** Whether the options select the five-crop folder (reference default: train of COCO and Cityscapes). */
export function usesFiveCrop(opts: DatasetOptions): boolean {
  if (opts.dataset === "potsdam" || opts.dataset === "folder") return false;
  if (opts.fiveCrop !== undefined) return opts.fiveCrop;
  return opts.split === "train" && (opts.dataset === "cocostuff27" || opts.dataset === "cityscapes");
}

/** Throws an InputError naming `path` when it is not a directory. */
export async function requireDir(path: string, what: string, layout?: string): Promise<void> {
  let ok = false;
  try {
    ok = (await Deno.stat(path)).isDirectory;
  } catch { /* missing */ }
  if (!ok) {
    throw new InputError(
      `Missing ${what}: ${path} is not a directory`,
      layout ? { hint: layout } : undefined,
    );
  }
}

/** Reads a list file (one id per line, blank lines skipped); a missing file names the path and layout. */
export async function readList(path: string, layout: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new InputError(`Missing list file ${path}`, { hint: layout });
  }
  return text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Maps raw label values through `map` (raw value → class id or -1); a value with no mapping raises an
 * InputError naming the file and the value.
 */
export function mapLabels(raw: Int32Array, map: Int16Array, file: string, what: string): Int32Array {
  const out = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    const m = v >= 0 && v < map.length ? map[v] : -2;
    if (m === -2) {
      throw new InputError(`Label value ${v} out of range in ${file} (${what})`);
    }
    out[i] = m;
  }
  return out;
}

/** Checks decoded image/label sizes agree. */
export function checkSameSize(img: RgbImage, lw: number, lh: number, file: string): void {
  if (img.width !== lw || img.height !== lh) {
    throw new InputError(`Label map ${file} is ${lw}x${lh} but its image is ${img.width}x${img.height}`);
  }
}

/** Throws a RangeError for an index outside [0, length). */
export function checkIndex(i: number, length: number, name: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new RangeError(`${name}: index ${i} out of range [0, ${length})`);
  }
}

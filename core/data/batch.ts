/**
 * Turns dataset samples into one training/eval batch (hp-method.md §3): resize shorter side (nearest) +
 * centre crop to S, ImageNet normalisation into CHW planes, labels to Int32 (-1 ignore), and the augmented
 * view — or, for the trainer (`augOnGpu`), each sample's augmentation draw, which core/data/photometric.ts
 * applies on the GPU to the u8 crops (`rgb`, always given). Shared by the in-process loader path and the Web
 * Worker (core/data/loader_worker.ts), so both produce identical bytes.
 *
 * Randomness: the augmentation parameters of a sample depend only on (seed, epoch, dataset index), never
 * on worker count or batch position.
 * @module
 */
import { hash32, Rng } from "../rng.ts";
import { applyAug, type AugMode, type AugParams, sampleAugParams } from "./augment.ts";
import { evalTransform, evalTransformLabels, normalizeImageNet, toTensor01 } from "../image/transforms.ts";
import type { SegDataset } from "../../datasets/dataset.ts";

/** A batch of B images at S×S. */
export interface Batch {
  /** [B,3,S,S] ImageNet-normalised. */
  images: Float32Array;
  /** [B,3,S,S] the photometrically augmented view (when augmentation is on, on the CPU). */
  augImages?: Float32Array;
  /** [B,S,S,3] the centre crops, interleaved RGB u8 (what the trainer uploads). */
  rgb: Uint8Array;
  /** The B augmentation draws (when augmentation is on, on the GPU: `augOnGpu`). */
  augParams?: AugParams[];
  /** [B,S,S], -1 = ignore (also for unlabelled samples). */
  labels: Int32Array;
  /** Dataset indices of the B samples, in batch order. */
  indices: number[];
}

/** What a batch needs to know besides the indices. */
export interface BatchSpec {
  size: number;
  seed: number;
  augment: boolean;
  augMode: AugMode;
  /** Draw the augmentation parameters only (`augParams`), no `augImages`: the GPU applies them. */
  augOnGpu?: boolean;
}

/** The generator seeding sample `index`'s augmentation in `epoch`. */
export function augRng(seed: number, epoch: number, index: number): Rng {
  return new Rng(hash32(hash32(seed ^ 0x41554701, epoch), index));
}

/** Loads and transforms the samples `indices` of `ds` into one batch. */
export async function buildBatch(
  ds: SegDataset,
  indices: number[],
  epoch: number,
  spec: BatchSpec,
): Promise<Batch> {
  const S = spec.size, P = S * S, B = indices.length;
  const images = new Float32Array(B * 3 * P);
  const augImages = spec.augment && !spec.augOnGpu ? new Float32Array(B * 3 * P) : undefined;
  const augParams: AugParams[] | undefined = spec.augment && spec.augOnGpu ? [] : undefined;
  const labels = new Int32Array(B * P);
  const rgb = new Uint8Array(B * P * 3);
  const samples = await Promise.all(indices.map((i) => ds.get(i)));
  for (let b = 0; b < B; b++) {
    const s = samples[b];
    const img = evalTransform(s.image, S);
    normalizeImageNet(img, images, b * 3 * P);
    rgb.set(img.data, b * P * 3);
    if (s.label) {
      const lab = evalTransformLabels(
        {
          width: s.image.width,
          height: s.image.height,
          data: s.label instanceof Int32Array ? s.label : Int32Array.from(s.label),
        },
        S,
      );
      labels.set(lab.data, b * P);
    } else labels.fill(-1, b * P, (b + 1) * P);
    if (augParams) augParams.push(sampleAugParams(augRng(spec.seed, epoch, indices[b])));
    if (augImages) {
      const p = sampleAugParams(augRng(spec.seed, epoch, indices[b]));
      if (spec.augMode === "reference") augImages.set(images.subarray(b * 3 * P, (b + 1) * 3 * P), b * 3 * P);
      else toTensor01(img, augImages, b * 3 * P);
      applyAug(augImages, S, S, p, spec.augMode, b * 3 * P);
    }
  }
  return { images, augImages, rgb, augParams, labels, indices: indices.slice() };
}

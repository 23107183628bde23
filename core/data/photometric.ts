/**
 * The training batch assembled on the GPU (hp-method.md §3.1, §3.3): the trainer uploads the u8 RGB crops,
 * the u8 (or i16) labels and a 64-byte parameter record per image once per step, and three dispatches make
 * the ImageNet-normalised clean view, the photometrically augmented view (reference clamp quirk or the
 * clean mode) and the i32 labels the probes read. The random parameters are drawn on the CPU exactly as
 * before (core/data/batch.ts, one `Rng` stream per sample), so only the arithmetic moved.
 * Kernel: shaders/data/photometric.wgsl. CPU reference: core/data/augment.ts applyAug on the tensor
 * core/image/transforms.ts normalizeImageNet / toTensor01 produce (the clean view is bit-exact: both read
 * the same NORM_LUT).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "../kernels/common.ts";
import { type AugMode, type AugParams, gaussianTaps } from "./augment.ts";
import { IMAGENET_MEAN, IMAGENET_STD, NORM_LUT } from "../image/transforms.ts";
import source from "../../shaders/data/photometric.wgsl" with { type: "text" };

/** Bytes of one image's parameter record (struct AugImage). */
const AUG_IMAGE_BYTES = 64;

/** Label storage width: u8 (255 = ignore) up to 255 classes, else i16 (−1 = ignore). */
export function labelBits(nClasses: number): 8 | 16 {
  if (!(Number.isInteger(nClasses) && nClasses > 0 && nClasses <= 32767)) {
    throw new RangeError(`photometric: class count must be an integer in [1, 32767], got ${nClasses}`);
  }
  return nClasses <= 255 ? 8 : 16;
}

/**
 * Packs i32 labels (−1 ignore) into `bits`-wide words. Values the probes ignore anyway (negative, or too
 * large for the width, hence ≥ the class count) become the ignore code. `into` (from an earlier call with
 * as many labels) is reused instead of allocating, as the trainer does every step.
 */
export function packLabels(
  labels: Int32Array,
  bits: 8 | 16,
  into?: Uint8Array | Int16Array,
): Uint8Array | Int16Array {
  const n = labels.length;
  if (bits === 8) {
    const out = into instanceof Uint8Array && into.length === Math.ceil(n / 4) * 4
      ? into
      : new Uint8Array(Math.ceil(n / 4) * 4);
    for (let i = 0; i < n; i++) {
      const v = labels[i];
      out[i] = v >= 0 && v < 255 ? v : 255;
    }
    return out;
  }
  const out = into instanceof Int16Array && into.length === Math.ceil(n / 2) * 2
    ? into
    : new Int16Array(Math.ceil(n / 2) * 2);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    out[i] = v >= 0 && v <= 32767 ? v : -1;
  }
  return out;
}

/** The per-image records of struct AugImage (order, factors, gray/blur flags, Gaussian taps as f32). */
export function packAugParams(params: readonly AugParams[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(1, params.length) * AUG_IMAGE_BYTES);
  const u = new Uint32Array(buf), f = new Float32Array(buf);
  params.forEach((p, b) => {
    const o = b * 16;
    for (let k = 0; k < 4; k++) u[o + k] = p.order[k];
    f[o + 4] = p.brightness;
    f[o + 5] = p.contrast;
    f[o + 6] = p.saturation;
    f[o + 7] = p.hue;
    u[o + 8] = p.gray ? 1 : 0;
    u[o + 9] = p.blur ? 1 : 0;
    const k = gaussianTaps(p.sigma);
    f[o + 12] = k[0];
    f[o + 13] = k[1];
    f[o + 14] = k[2];
  });
  return buf;
}

/** The LUT uniform: NORM_LUT then v/255 as f32 (toTensor01's values). */
function lutBytes(): Float32Array {
  const lut = new Float32Array(1024);
  lut.set(NORM_LUT);
  for (let v = 0; v < 256; v++) lut[768 + v] = v / 255;
  return lut;
}

/** Shape and options of one batch assembler. */
export interface PhotometricShape {
  B: number;
  H: number;
  W: number;
  nClasses: number;
  /** Build the augmented view (false: only the clean view and labels). */
  augment: boolean;
  mode: AugMode;
}

/** A prepared batch assembler: {@link upload} each step, then record {@link dispatches} in the encoder. */
export interface Photometric {
  readonly dispatches: readonly Dispatch[];
  /** The clean view alone from the crops of {@link uploadRgb} (labels and augmented view untouched). */
  readonly cleanDispatch: Dispatch;
  readonly labelBits: 8 | 16;
  /**
   * Writes one step's crops (interleaved u8 [B, H, W, 3]), labels ([B, H, W] i32, −1 ignore) and, with
   * augmentation, the B parameter draws. Lands before the next submit.
   * @throws TypeError when a length does not match the shape.
   */
  upload(rgb: Uint8Array, labels: Int32Array, params?: readonly AugParams[]): void;
  /** Writes crops only, for {@link cleanDispatch}. */
  uploadRgb(rgb: Uint8Array): void;
  /** Releases the assembler's own buffers (inputs and scratch). */
  destroy(): void;
}

/**
 * Compiles (cached) and binds the assembler writing `clean` [B,3,H,W] f32, `aug` [B,3,H,W] f32 (ignored
 * without augmentation) and `labels` [B,H,W] i32.
 */
export async function preparePhotometric(
  gpu: Gpu,
  arena: BufferArena,
  shape: PhotometricShape,
  out: { clean: GpuTensor; aug: GpuTensor; labels: GpuTensor },
): Promise<Photometric> {
  const { B, H, W, augment, mode } = shape;
  checkDims("photometric", { B, H, W });
  const P = H * W, bits = labelBits(shape.nClasses);
  checkDtype("photometric", "clean", out.clean, "f32");
  checkDtype("photometric", "labels", out.labels, "i32");
  checkExtent("photometric", "clean", out.clean, B * 3 * P);
  checkExtent("photometric", "labels", out.labels, B * P);
  if (augment) {
    checkDtype("photometric", "aug", out.aug, "f32");
    checkExtent("photometric", "aug", out.aug, B * 3 * P);
  }
  const rgb = arena.tensor([Math.ceil((B * P * 3) / 4)], "u32", "batch-rgb-u8");
  const lab = arena.tensor([Math.ceil((B * P * bits) / 32)], "u32", `batch-labels-u${bits}`);
  const prm = arena.tensor([B * AUG_IMAGE_BYTES / 4], "u32", "batch-aug-params");
  const tmp = augment ? arena.tensor([B * 3 * P + B], "f32", "batch-aug-scratch") : arena.dummy();
  const lut = arena.uniform(lutBytes(), "batch-norm-lut");
  const params = new ArrayBuffer(48);
  new Uint32Array(params, 0, 3).set([B, H, W]);
  new Float32Array(params, 16, 8).set([...IMAGENET_MEAN, 0, ...IMAGENET_STD, 0]);
  const uniform = arena.uniform(params, "photometric-params");
  const constants = { AUG: augment ? 1 : 0, CLEAN_MODE: mode === "clean" ? 1 : 0, LABEL_BITS: bits };
  const bindings = ["read", "read", "read", "rw", "rw", "rw", "rw", "uniform", "uniform"] as const;
  const kernel = (entryPoint: string, c: Record<string, number> = constants) =>
    getKernel(gpu, {
      file: "data/photometric.wgsl",
      source,
      entryPoint,
      bindings: [...bindings],
      constants: c,
    });
  const resources = (k: Awaited<ReturnType<typeof kernel>>) =>
    bindGroup(gpu, k, [
      rgb,
      lab,
      prm,
      out.clean,
      tmp,
      augment ? out.aug : arena.dummy(),
      out.labels,
      lut,
      uniform,
    ]);
  const perPixel = grid1d(Math.ceil((B * P) / 256), gpu.limits.maxComputeWorkgroupsPerDimension);
  const dispatch = (k: Awaited<ReturnType<typeof kernel>>, label: string): Dispatch => ({
    kernel: k,
    bindGroup: resources(k),
    workgroups: perPixel,
    label,
  });
  const dispatches: Dispatch[] = [];
  if (augment) {
    const mean = await kernel("contrast_mean");
    dispatches.push({ kernel: mean, bindGroup: resources(mean), workgroups: [B, 1, 1], label: "aug-mean" });
  }
  dispatches.push(dispatch(await kernel("pixels"), "batch-pixels"));
  if (augment) dispatches.push(dispatch(await kernel("blur"), "aug-blur"));
  const cleanDispatch = dispatch(
    await kernel("pixels", { ...constants, AUG: 0, WRITE_LABELS: 0 }),
    "batch-clean",
  );
  const q = gpu.device.queue;
  const writeRgb = (bytes: Uint8Array) => {
    if (bytes.length !== B * P * 3) {
      throw new TypeError(`photometric: ${bytes.length} RGB bytes, expected ${B}·${H}·${W}·3 = ${B * P * 3}`);
    }
    const whole = bytes.length & ~3;
    if (whole > 0) q.writeBuffer(rgb.buffer, 0, bytes.buffer as ArrayBuffer, bytes.byteOffset, whole);
    if (whole < bytes.length) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      q.writeBuffer(rgb.buffer, whole, tail);
    }
  };
  let packed: Uint8Array | Int16Array | undefined; // the step's packed labels, reused (writeBuffer copies)
  return {
    dispatches,
    cleanDispatch,
    labelBits: bits,
    uploadRgb: writeRgb,
    upload(bytes, labels, aug) {
      if (labels.length !== B * P) {
        throw new TypeError(`photometric: ${labels.length} labels, expected ${B}·${H}·${W} = ${B * P}`);
      }
      writeRgb(bytes);
      packed = packLabels(labels, bits, packed);
      q.writeBuffer(lab.buffer, 0, packed.buffer as ArrayBuffer, 0, packed.byteLength);
      if (augment) {
        if (!aug || aug.length !== B) {
          throw new TypeError(`photometric: ${aug?.length ?? 0} augmentation draws, expected ${B}`);
        }
        q.writeBuffer(prm.buffer, 0, packAugParams(aug));
      }
    },
    destroy() {
      rgb.destroy();
      lab.destroy();
      prm.destroy();
      if (augment) tmp.destroy();
      arena.releaseUniform(lut);
      arena.releaseUniform(uniform);
    },
  };
}

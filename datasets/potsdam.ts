/**
 * Potsdam-3 (hp-method.md §9.3, IIC preprocessing): 200×200 tiles in MATLAB v5 files, 6 → 3 class merge.
 *
 * Layout under root: imgs/<id>.mat (variable `img`, uint8 H×W×4 = R,G,B,IR; the first three channels are
 * used), gt/<id>.mat (variable `gt`, int32 H×W, values 0..5), labelled_train.txt (split "train") and
 * labelled_test.txt (split "val"). Merge: {0 road, 4 car} → 0, {1 building, 5 clutter} → 1,
 * {2 low vegetation, 3 tree} → 2, 255 and -1 → ignore. The reference maps any other value silently to 0; we
 * report it as an error naming the file and the value (it never occurs in the real data).
 * @module
 */
import { DecodeError, readBytes } from "../core/image/codecs.ts";
import { readMatVariable } from "../core/io/mat.ts";
import { InputError } from "../core/errors.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, readList, requireDir } from "./dataset.ts";
import { POTSDAM_CLASSES, POTSDAM_LAYOUT } from "./layouts.ts";

const MERGE: Record<number, number> = { 0: 0, 4: 0, 1: 1, 5: 1, 2: 2, 3: 2, 255: -1, [-1]: -1 };

/** Reads a MAT variable; unreadable files become DecodeErrors (skippable by `prepare --skip-bad`). */
function matVar(bytes: Uint8Array, file: string, name: string) {
  try {
    return readMatVariable(bytes, file, name);
  } catch (err) {
    throw new DecodeError((err as Error).message, { cause: err });
  }
}

/** Decodes one Potsdam tile from its .mat bytes (RGB of `img`). */
export function potsdamImage(
  bytes: Uint8Array,
  file: string,
): { width: number; height: number; data: Uint8Array } {
  const v = matVar(bytes, file, "img");
  if (v.dims.length !== 3 || v.dims[2] < 3) {
    throw new InputError(`Cannot read MAT file ${file}: "img" has dimensions [${v.dims}], expected HxWx4`);
  }
  const [H, W, C] = v.dims;
  const data = new Uint8Array(H * W * 3);
  for (let i = 0; i < H * W; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = v.data[i * C + c];
  }
  return { width: W, height: H, data };
}

/** Decodes one Potsdam label tile (merged to 3 classes, -1 ignore). */
export function potsdamLabels(
  bytes: Uint8Array,
  file: string,
): { width: number; height: number; data: Int32Array } {
  const v = matVar(bytes, file, "gt");
  if (v.dims.length !== 2) {
    throw new InputError(`Cannot read MAT file ${file}: "gt" has dimensions [${v.dims}], expected HxW`);
  }
  const out = new Int32Array(v.data.length);
  for (let i = 0; i < out.length; i++) {
    const m = MERGE[v.data[i]];
    if (m === undefined) {
      throw new InputError(`Label value ${v.data[i]} out of range in ${file} (expected 0..5 or 255)`);
    }
    out[i] = m;
  }
  return { width: v.dims[1], height: v.dims[0], data: out };
}

/** The Potsdam-3 tiles of a split (no five-crop). */
export async function openPotsdam(opts: DatasetOptions): Promise<SegDataset> {
  const root = opts.root!;
  await requireDir(`${root}/imgs`, "Potsdam image folder", POTSDAM_LAYOUT);
  const list = opts.split === "train" ? "labelled_train.txt" : "labelled_test.txt";
  const ids = await readList(`${root}/${list}`, POTSDAM_LAYOUT);
  return {
    name: "potsdam",
    nClasses: 3,
    classNames: POTSDAM_CLASSES.slice(),
    length: ids.length,
    spec: { ...opts, fiveCrop: false },
    async get(i: number): Promise<Sample> {
      checkIndex(i, ids.length, "potsdam");
      const ip = `${root}/imgs/${ids[i]}.mat`, lp = `${root}/gt/${ids[i]}.mat`;
      const image = potsdamImage(await readBytes(ip, "image"), ip);
      const lab = potsdamLabels(await readBytes(lp, "label"), lp);
      if (lab.width !== image.width || lab.height !== image.height) {
        throw new InputError(
          `Label map ${lp} is ${lab.width}x${lab.height} but its image is ${image.width}x${image.height}`,
        );
      }
      return { name: ids[i], file: `${ids[i]}.mat`, image, label: lab.data };
    },
  };
}
